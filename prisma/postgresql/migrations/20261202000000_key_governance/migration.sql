-- AlterTable
-- Every new column has a default (or is nullable), so existing keys keep working unchanged:
-- no token or concurrency limits, a lifetime ("total") quota, no new-address alerts.
ALTER TABLE "api_keys" ADD COLUMN     "maxConcurrentRequests" INTEGER,
ADD COLUMN     "notifyOnNewIp" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "quotaPeriodStart" TIMESTAMPTZ(3),
ADD COLUMN     "tokenLimitPerDay" BIGINT,
ADD COLUMN     "tokenLimitPerMinute" BIGINT,
ADD COLUMN     "usageLimitPeriod" TEXT NOT NULL DEFAULT 'total';
