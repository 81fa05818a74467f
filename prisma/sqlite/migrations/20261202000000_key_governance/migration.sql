-- AlterTable
-- Every new column has a default (or is nullable), so existing keys keep working unchanged:
-- no token or concurrency limits, a lifetime ("total") quota, no new-address alerts.
ALTER TABLE "api_keys" ADD COLUMN "maxConcurrentRequests" INTEGER;
ALTER TABLE "api_keys" ADD COLUMN "notifyOnNewIp" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "api_keys" ADD COLUMN "quotaPeriodStart" DATETIME;
ALTER TABLE "api_keys" ADD COLUMN "tokenLimitPerDay" BIGINT;
ALTER TABLE "api_keys" ADD COLUMN "tokenLimitPerMinute" BIGINT;
ALTER TABLE "api_keys" ADD COLUMN "usageLimitPeriod" TEXT NOT NULL DEFAULT 'total';
