-- Lists at a million keys: sort indexes ending in id (keyset cursors), a status index with
-- expiresAt, a covering tag index, per-tenant key counts, rollups the overview reads, and a
-- trigram index for the key search.

-- Key sort indexes: (sort, id)
DROP INDEX "api_keys_tenantId_createdAt_idx";
DROP INDEX "api_keys_tenantId_status_createdAt_idx";
DROP INDEX "api_keys_tenantId_ownerId_createdAt_idx";
DROP INDEX "api_keys_tenantId_expiresAt_idx";
DROP INDEX "api_keys_tenantId_name_idx";
DROP INDEX "api_keys_tenantId_lastUsedAt_idx";
CREATE INDEX "api_keys_tenantId_createdAt_id_idx" ON "api_keys"("tenantId", "createdAt", "id");
CREATE INDEX "api_keys_tenantId_status_createdAt_id_idx" ON "api_keys"("tenantId", "status", "createdAt", "id");
CREATE INDEX "api_keys_tenantId_ownerId_createdAt_id_idx" ON "api_keys"("tenantId", "ownerId", "createdAt", "id");
CREATE INDEX "api_keys_tenantId_expiresAt_id_idx" ON "api_keys"("tenantId", "expiresAt", "id");
CREATE INDEX "api_keys_tenantId_status_expiresAt_idx" ON "api_keys"("tenantId", "status", "expiresAt");
CREATE INDEX "api_keys_tenantId_name_id_idx" ON "api_keys"("tenantId", "name", "id");
CREATE INDEX "api_keys_tenantId_lastUsedAt_id_idx" ON "api_keys"("tenantId", "lastUsedAt", "id");

-- Tag filter
DROP INDEX "api_key_tags_tenantId_tagLower_idx";
CREATE INDEX "api_key_tags_tenantId_tagLower_keyId_idx" ON "api_key_tags"("tenantId", "tagLower", "keyId");

-- Audit log: (createdAt, id) cursors
DROP INDEX "audit_events_tenantId_createdAt_idx";
DROP INDEX "audit_events_tenantId_action_createdAt_idx";
DROP INDEX "audit_events_tenantId_targetId_createdAt_idx";
DROP INDEX "audit_events_tenantId_actorId_createdAt_idx";
CREATE INDEX "audit_events_tenantId_createdAt_id_idx" ON "audit_events"("tenantId", "createdAt", "id");
CREATE INDEX "audit_events_tenantId_action_createdAt_id_idx" ON "audit_events"("tenantId", "action", "createdAt", "id");
CREATE INDEX "audit_events_tenantId_targetId_createdAt_id_idx" ON "audit_events"("tenantId", "targetId", "createdAt", "id");
CREATE INDEX "audit_events_tenantId_actorId_createdAt_id_idx" ON "audit_events"("tenantId", "actorId", "createdAt", "id");

-- Key counts per tenant and stored status, kept by a trigger
CREATE TABLE "tenant_key_counts" (
    "tenantId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "count" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "tenant_key_counts_pkey" PRIMARY KEY ("tenantId","status")
);
INSERT INTO "tenant_key_counts" ("tenantId", "status", "count")
    SELECT "tenantId", "status", COUNT(*) FROM "api_keys" GROUP BY "tenantId", "status";

CREATE FUNCTION "api_keys_count"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE "tenant_key_counts" SET "count" = "count" - 1 WHERE "tenantId" = OLD."tenantId" AND "status" = OLD."status";
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO "tenant_key_counts" ("tenantId", "status", "count") VALUES (NEW."tenantId", NEW."status", 1)
            ON CONFLICT ("tenantId", "status") DO UPDATE SET "count" = "tenant_key_counts"."count" + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER "api_keys_count_insert_delete" AFTER INSERT OR DELETE ON "api_keys"
    FOR EACH ROW EXECUTE FUNCTION "api_keys_count"();
CREATE TRIGGER "api_keys_count_update" AFTER UPDATE OF "tenantId", "status" ON "api_keys"
    FOR EACH ROW WHEN (OLD."tenantId" IS DISTINCT FROM NEW."tenantId" OR OLD."status" IS DISTINCT FROM NEW."status")
    EXECUTE FUNCTION "api_keys_count"();

-- Rollups of the overview
CREATE TABLE "usage_tenant_daily" (
    "tenantId" TEXT NOT NULL,
    "bucketStart" TIMESTAMPTZ(3) NOT NULL,
    "requestsOk" BIGINT NOT NULL DEFAULT 0,
    "requestsFailed" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_tenant_daily_pkey" PRIMARY KEY ("tenantId","bucketStart")
);
INSERT INTO "usage_tenant_daily" ("tenantId", "bucketStart", "requestsOk", "requestsFailed", "tokens", "spendMicroCents")
    SELECT "tenantId", "bucketStart", SUM("requestsOk"), SUM("requestsFailed"), SUM("tokens"), SUM("spendMicroCents")
      FROM "usage_daily" GROUP BY "tenantId", "bucketStart";

CREATE TABLE "usage_key_monthly" (
    "keyId" TEXT NOT NULL,
    "monthStart" TIMESTAMPTZ(3) NOT NULL,
    "tenantId" TEXT NOT NULL,
    "requestsOk" BIGINT NOT NULL DEFAULT 0,
    "requestsFailed" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_key_monthly_pkey" PRIMARY KEY ("keyId","monthStart")
);
INSERT INTO "usage_key_monthly" ("keyId", "monthStart", "tenantId", "requestsOk", "requestsFailed", "spendMicroCents")
    SELECT "keyId", date_trunc('month', "bucketStart" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', MIN("tenantId"),
           SUM("requestsOk"), SUM("requestsFailed"), SUM("spendMicroCents")
      FROM "usage_daily" GROUP BY 1, 2;
CREATE INDEX "usage_key_monthly_tenantId_monthStart_requestsOk_idx" ON "usage_key_monthly"("tenantId", "monthStart", "requestsOk");

CREATE TABLE "usage_tenant_outcomes_daily" (
    "tenantId" TEXT NOT NULL,
    "bucketStart" TIMESTAMPTZ(3) NOT NULL,
    "outcome" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_tenant_outcomes_daily_pkey" PRIMARY KEY ("tenantId","bucketStart","outcome")
);
INSERT INTO "usage_tenant_outcomes_daily" ("tenantId", "bucketStart", "outcome", "requests")
    SELECT "tenantId", "bucketStart", "outcome", SUM("requests") FROM "usage_outcomes_daily" GROUP BY "tenantId", "bucketStart", "outcome";

-- Key search: a trigram index over name and description, so ILIKE '%text%' does not scan.
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX "api_keys_search_trgm_idx" ON "api_keys" USING gin (("name" || ' ' || "description") gin_trgm_ops);
