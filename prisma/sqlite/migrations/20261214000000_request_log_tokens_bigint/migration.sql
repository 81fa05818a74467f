-- A request's tokens in the request log are BIGINT, like every other token count (on PostgreSQL
-- the integer column refused a usage batch holding a request of more than 2,147,483,647 tokens).
-- SQLite's INTEGER already holds 64 bits; the table is rebuilt only so that its declared type is
-- the schema's. Rows keep their ids, and the table keeps its AUTOINCREMENT counter, so an id is
-- never given twice (the (at, id) cursor relies on it).
CREATE TABLE "new_request_log" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "keyId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "at" DATETIME NOT NULL,
    "outcome" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "ip" TEXT NOT NULL,
    "model" TEXT,
    "chatbot" TEXT,
    "tokens" BIGINT NOT NULL,
    "costMicroCents" BIGINT NOT NULL,
    "latencyMs" INTEGER NOT NULL,
    "requestId" TEXT,
    "userAgent" TEXT
);
INSERT INTO "new_request_log" ("id", "keyId", "tenantId", "at", "outcome", "status", "ip", "model", "chatbot", "tokens", "costMicroCents", "latencyMs", "requestId", "userAgent")
SELECT "id", "keyId", "tenantId", "at", "outcome", "status", "ip", "model", "chatbot", "tokens", "costMicroCents", "latencyMs", "requestId", "userAgent" FROM "request_log";
DELETE FROM "sqlite_sequence" WHERE "name" = 'new_request_log';
INSERT INTO "sqlite_sequence" ("name", "seq") SELECT 'new_request_log', "seq" FROM "sqlite_sequence" WHERE "name" = 'request_log';
DROP TABLE "request_log";
ALTER TABLE "new_request_log" RENAME TO "request_log";
CREATE INDEX "request_log_keyId_at_id_idx" ON "request_log"("keyId", "at", "id");
CREATE INDEX "request_log_at_idx" ON "request_log"("at");
