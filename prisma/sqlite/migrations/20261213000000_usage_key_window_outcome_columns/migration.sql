-- usage_key_window's requests by outcome become columns of its rows, one per outcome code named as
-- the code (they were rows of usage_key_window_outcomes), and its rows carry the key's name (kept by
-- the triggers below; null once the key is deleted): a usage batch writes one row per key, and usage
-- by key reads 10,000 keys with their counts and names from the ranking's own rows. The window is
-- kept from the daily rows: both tables are dropped, made again empty, and the state is set back to
-- the epoch, so the app's first roll rebuilds the window (until then usage by key sums the daily rows).

DROP TABLE "usage_key_window_outcomes";
DROP TABLE "usage_key_window";

-- CreateTable
CREATE TABLE "usage_key_window" (
    "keyId" TEXT NOT NULL PRIMARY KEY,
    "tenantId" TEXT NOT NULL,
    "keyName" TEXT,
    "requests" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,
    "ok" BIGINT NOT NULL DEFAULT 0,
    "failed" BIGINT NOT NULL DEFAULT 0,
    "client_closed" BIGINT NOT NULL DEFAULT 0,
    "invalid_api_key" BIGINT NOT NULL DEFAULT 0,
    "key_revoked" BIGINT NOT NULL DEFAULT 0,
    "key_inactive" BIGINT NOT NULL DEFAULT 0,
    "key_expired" BIGINT NOT NULL DEFAULT 0,
    "ip_not_allowed" BIGINT NOT NULL DEFAULT 0,
    "insufficient_scope" BIGINT NOT NULL DEFAULT 0,
    "model_not_allowed" BIGINT NOT NULL DEFAULT 0,
    "chatbot_not_allowed" BIGINT NOT NULL DEFAULT 0,
    "invalid_request" BIGINT NOT NULL DEFAULT 0,
    "rate_limited" BIGINT NOT NULL DEFAULT 0,
    "quota_exceeded" BIGINT NOT NULL DEFAULT 0,
    "budget_exceeded" BIGINT NOT NULL DEFAULT 0,
    "limits_unavailable" BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- CreateIndex
CREATE INDEX "usage_key_window_tenantId_requests_spendMicroCents_keyId_idx" ON "usage_key_window"("tenantId", "requests" DESC, "spendMicroCents" DESC, "keyId");

UPDATE "usage_window_state" SET "startDay" = '1970-01-01T00:00:00.000+00:00', "endDay" = '1970-01-01T00:00:00.000+00:00' WHERE "id" = 1;

-- The name of a key in the window follows the key: renamed, or deleted (null).
CREATE TRIGGER "usage_key_window_name_update" AFTER UPDATE OF "name" ON "api_keys"
    WHEN OLD."name" IS NOT NEW."name" BEGIN
    UPDATE "usage_key_window" SET "keyName" = NEW."name" WHERE "keyId" = NEW."id";
END;
CREATE TRIGGER "usage_key_window_name_delete" AFTER DELETE ON "api_keys" BEGIN
    UPDATE "usage_key_window" SET "keyName" = NULL WHERE "keyId" = OLD."id";
END;
-- A row a usage batch inserts without a name (the writer thread's statement) is named here: the key
-- is looked up for a row inserted only, not every time a batch adds to a row (an upsert fires
-- INSERT triggers only when it inserts).
CREATE TRIGGER "usage_key_window_name_insert" AFTER INSERT ON "usage_key_window" WHEN NEW."keyName" IS NULL BEGIN
    UPDATE "usage_key_window" SET "keyName" = (SELECT "name" FROM "api_keys" WHERE "id" = NEW."keyId") WHERE "keyId" = NEW."keyId";
END;
