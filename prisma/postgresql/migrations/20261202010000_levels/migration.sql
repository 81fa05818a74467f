-- CreateTable
-- Limits above the key (tenant and owner levels). Existing tenants have no row: nothing changes.
CREATE TABLE "level_limits" (
    "subject" TEXT NOT NULL,
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
    "budgetPeriodStart" TIMESTAMPTZ(3),
    "budgetCeilingMicroCents" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "level_limits_pkey" PRIMARY KEY ("subject")
);

-- CreateIndex
CREATE INDEX "level_limits_tenantId_idx" ON "level_limits"("tenantId");

-- CreateIndex
CREATE INDEX "level_limits_userId_idx" ON "level_limits"("userId");

-- AddForeignKey
ALTER TABLE "level_limits" ADD CONSTRAINT "level_limits_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "level_limits" ADD CONSTRAINT "level_limits_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
