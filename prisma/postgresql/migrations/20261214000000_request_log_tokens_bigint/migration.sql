-- A request's tokens in the request log: integer held at most 2,147,483,647, and a request
-- reporting more made the database refuse its whole usage batch (22003). bigint, like every
-- other token count. (SQLite's INTEGER is 64 bits already: no SQLite migration.)
-- This rewrites request_log (kept REQUEST_LOG_RETENTION_DAYS days), locking it while it runs:
-- usage writes wait for it, and nothing is lost.
ALTER TABLE "request_log" ALTER COLUMN "tokens" SET DATA TYPE BIGINT;
