-- CreateTable
-- Limits above the key (tenant and owner levels). Existing tenants have no row: nothing changes.
CREATE TABLE "level_limits" (
    "subject" TEXT NOT NULL PRIMARY KEY,
    "tenantId" TEXT NOT NULL,
    "userId" TEXT,
    "budgetLimitCents" INTEGER,
    "budgetPeriod" TEXT,
    "ratePerMinute" INTEGER,
    "ratePerHour" INTEGER,
    "ratePerDay" INTEGER,
    "ratePerMonth" INTEGER,
    "tokenLimitPerMinute" BIGINT,
    "tokenLimitPerDay" BIGINT,
    "alertThresholds" TEXT,
    "budgetPeriodStart" DATETIME,
    "budgetCeilingMicroCents" BIGINT NOT NULL DEFAULT 0,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "level_limits_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "tenants" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "level_limits_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "level_limits_tenantId_idx" ON "level_limits"("tenantId");

-- CreateIndex
CREATE INDEX "level_limits_userId_idx" ON "level_limits"("userId");
