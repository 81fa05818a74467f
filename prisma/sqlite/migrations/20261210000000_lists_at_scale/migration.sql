-- Lists at a million keys: sort indexes ending in id (keyset cursors), a status index with
-- expiresAt, a covering tag index, per-tenant key counts, rollups the overview reads, and a
-- trigram full-text index for the key search.

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

-- Key counts per tenant and stored status, kept by triggers
CREATE TABLE "tenant_key_counts" (
    "tenantId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "count" BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY ("tenantId", "status")
);
INSERT INTO "tenant_key_counts" ("tenantId", "status", "count")
    SELECT "tenantId", "status", COUNT(*) FROM "api_keys" GROUP BY "tenantId", "status";

CREATE TRIGGER "api_keys_count_insert" AFTER INSERT ON "api_keys" BEGIN
    INSERT INTO "tenant_key_counts" ("tenantId", "status", "count") VALUES (NEW."tenantId", NEW."status", 1)
        ON CONFLICT ("tenantId", "status") DO UPDATE SET "count" = "count" + 1;
END;
CREATE TRIGGER "api_keys_count_delete" AFTER DELETE ON "api_keys" BEGIN
    UPDATE "tenant_key_counts" SET "count" = "count" - 1 WHERE "tenantId" = OLD."tenantId" AND "status" = OLD."status";
END;
CREATE TRIGGER "api_keys_count_update" AFTER UPDATE OF "tenantId", "status" ON "api_keys"
    WHEN OLD."tenantId" IS NOT NEW."tenantId" OR OLD."status" IS NOT NEW."status" BEGIN
    UPDATE "tenant_key_counts" SET "count" = "count" - 1 WHERE "tenantId" = OLD."tenantId" AND "status" = OLD."status";
    INSERT INTO "tenant_key_counts" ("tenantId", "status", "count") VALUES (NEW."tenantId", NEW."status", 1)
        ON CONFLICT ("tenantId", "status") DO UPDATE SET "count" = "count" + 1;
END;

-- Rollups of the overview
CREATE TABLE "usage_tenant_daily" (
    "tenantId" TEXT NOT NULL,
    "bucketStart" DATETIME NOT NULL,
    "requestsOk" BIGINT NOT NULL DEFAULT 0,
    "requestsFailed" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY ("tenantId", "bucketStart")
);
INSERT INTO "usage_tenant_daily" ("tenantId", "bucketStart", "requestsOk", "requestsFailed", "tokens", "spendMicroCents")
    SELECT "tenantId", "bucketStart", SUM("requestsOk"), SUM("requestsFailed"), SUM("tokens"), SUM("spendMicroCents")
      FROM "usage_daily" GROUP BY "tenantId", "bucketStart";

CREATE TABLE "usage_key_monthly" (
    "keyId" TEXT NOT NULL,
    "monthStart" DATETIME NOT NULL,
    "tenantId" TEXT NOT NULL,
    "requestsOk" BIGINT NOT NULL DEFAULT 0,
    "requestsFailed" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY ("keyId", "monthStart")
);
-- Stored times are ISO 8601 text (2026-12-10T00:00:00.000+00:00): the month starts at day 01.
INSERT INTO "usage_key_monthly" ("keyId", "monthStart", "tenantId", "requestsOk", "requestsFailed", "spendMicroCents")
    SELECT "keyId", substr("bucketStart", 1, 8) || '01T00:00:00.000+00:00', MIN("tenantId"), SUM("requestsOk"), SUM("requestsFailed"), SUM("spendMicroCents")
      FROM "usage_daily" GROUP BY "keyId", substr("bucketStart", 1, 8);
CREATE INDEX "usage_key_monthly_tenantId_monthStart_requestsOk_idx" ON "usage_key_monthly"("tenantId", "monthStart", "requestsOk");

CREATE TABLE "usage_tenant_outcomes_daily" (
    "tenantId" TEXT NOT NULL,
    "bucketStart" DATETIME NOT NULL,
    "outcome" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY ("tenantId", "bucketStart", "outcome")
);
INSERT INTO "usage_tenant_outcomes_daily" ("tenantId", "bucketStart", "outcome", "requests")
    SELECT "tenantId", "bucketStart", "outcome", SUM("requests") FROM "usage_outcomes_daily" GROUP BY "tenantId", "bucketStart", "outcome";

-- Key search: a trigram index of name and description (substring search without a scan). Its own
-- rows, found by key id through the index itself: api_keys has no stable integer rowid to
-- share (VACUUM may renumber the rowids of a table without an INTEGER PRIMARY KEY).
CREATE VIRTUAL TABLE "api_keys_search" USING fts5("keyId", "name", "description", tokenize = 'trigram');
INSERT INTO "api_keys_search" ("keyId", "name", "description") SELECT "id", "name", "description" FROM "api_keys";

CREATE TRIGGER "api_keys_search_insert" AFTER INSERT ON "api_keys" BEGIN
    INSERT INTO "api_keys_search" ("keyId", "name", "description") VALUES (NEW."id", NEW."name", NEW."description");
END;
CREATE TRIGGER "api_keys_search_delete" AFTER DELETE ON "api_keys" BEGIN
    DELETE FROM "api_keys_search" WHERE "api_keys_search" MATCH ('"keyId" : "' || OLD."id" || '"') AND "keyId" = OLD."id";
END;
CREATE TRIGGER "api_keys_search_update" AFTER UPDATE OF "id", "name", "description" ON "api_keys"
    WHEN OLD."id" IS NOT NEW."id" OR OLD."name" IS NOT NEW."name" OR OLD."description" IS NOT NEW."description" BEGIN
    DELETE FROM "api_keys_search" WHERE "api_keys_search" MATCH ('"keyId" : "' || OLD."id" || '"') AND "keyId" = OLD."id";
    INSERT INTO "api_keys_search" ("keyId", "name", "description") VALUES (NEW."id", NEW."name", NEW."description");
END;
