-- CreateTable
CREATE TABLE "usage_outcomes_hourly" (
    "keyId" TEXT NOT NULL,
    "bucketStart" DATETIME NOT NULL,
    "outcome" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,

    PRIMARY KEY ("keyId", "bucketStart", "outcome")
);

-- CreateTable
CREATE TABLE "usage_outcomes_daily" (
    "keyId" TEXT NOT NULL,
    "bucketStart" DATETIME NOT NULL,
    "outcome" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,

    PRIMARY KEY ("keyId", "bucketStart", "outcome")
);

-- CreateTable
CREATE TABLE "usage_models_daily" (
    "keyId" TEXT NOT NULL,
    "bucketStart" DATETIME NOT NULL,
    "model" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,

    PRIMARY KEY ("keyId", "bucketStart", "model", "outcome")
);

-- CreateTable
CREATE TABLE "request_log" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "keyId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "at" DATETIME NOT NULL,
    "outcome" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "ip" TEXT NOT NULL,
    "model" TEXT,
    "chatbot" TEXT,
    "tokens" INTEGER NOT NULL,
    "costMicroCents" BIGINT NOT NULL,
    "latencyMs" INTEGER NOT NULL,
    "requestId" TEXT,
    "userAgent" TEXT
);

-- CreateTable
CREATE TABLE "key_client_addresses" (
    "keyId" TEXT NOT NULL,
    "ip" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "firstSeenAt" DATETIME NOT NULL,
    "lastSeenAt" DATETIME NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,

    PRIMARY KEY ("keyId", "ip")
);

-- CreateTable
CREATE TABLE "unknown_key_attempts" (
    "bucketStart" DATETIME NOT NULL,
    "ip" TEXT NOT NULL,
    "attempts" BIGINT NOT NULL DEFAULT 0,
    "blockedAttempts" BIGINT NOT NULL DEFAULT 0,
    "lastSeenAt" DATETIME NOT NULL,

    PRIMARY KEY ("bucketStart", "ip")
);

-- CreateIndex
CREATE INDEX "usage_outcomes_hourly_tenantId_bucketStart_idx" ON "usage_outcomes_hourly"("tenantId", "bucketStart");

-- CreateIndex
CREATE INDEX "usage_outcomes_daily_tenantId_bucketStart_idx" ON "usage_outcomes_daily"("tenantId", "bucketStart");

-- CreateIndex
CREATE INDEX "usage_models_daily_tenantId_bucketStart_idx" ON "usage_models_daily"("tenantId", "bucketStart");

-- CreateIndex
CREATE INDEX "request_log_keyId_at_id_idx" ON "request_log"("keyId", "at", "id");

-- CreateIndex
CREATE INDEX "request_log_at_idx" ON "request_log"("at");

-- CreateIndex
CREATE INDEX "key_client_addresses_keyId_lastSeenAt_idx" ON "key_client_addresses"("keyId", "lastSeenAt");

-- CreateIndex
CREATE INDEX "key_client_addresses_lastSeenAt_idx" ON "key_client_addresses"("lastSeenAt");
