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
    "keyId" TEXT NOT NULL,
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
    "limits_unavailable" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_key_window_pkey" PRIMARY KEY ("keyId")
);

-- CreateIndex
CREATE INDEX "usage_key_window_tenantId_requests_spendMicroCents_keyId_idx" ON "usage_key_window"("tenantId", "requests" DESC, "spendMicroCents" DESC, "keyId");

UPDATE "usage_window_state" SET "startDay" = '1970-01-01 00:00:00+00', "endDay" = '1970-01-01 00:00:00+00' WHERE "id" = 1;

-- The name of a key in the window follows the key: renamed, or deleted (null). A window row made
-- meanwhile reads the name under a lock that the rename or delete also takes (src/data/repositories/usage-window.ts).
CREATE FUNCTION "usage_key_window_name"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE "usage_key_window" SET "keyName" = NULL WHERE "keyId" = OLD."id";
    ELSE
        UPDATE "usage_key_window" SET "keyName" = NEW."name" WHERE "keyId" = NEW."id";
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER "usage_key_window_name_update" AFTER UPDATE OF "name" ON "api_keys"
    FOR EACH ROW WHEN (OLD."name" IS DISTINCT FROM NEW."name") EXECUTE FUNCTION "usage_key_window_name"();
CREATE TRIGGER "usage_key_window_name_delete" AFTER DELETE ON "api_keys"
    FOR EACH ROW EXECUTE FUNCTION "usage_key_window_name"();
