-- AlterTable
ALTER TABLE "api_key_tags" ADD COLUMN     "tagLower" TEXT NOT NULL DEFAULT '';

-- Existing tags, lower-cased (new tags are lower-cased by the app).
UPDATE "api_key_tags" SET "tagLower" = lower("tag");

-- AlterTable
ALTER TABLE "audit_events" ADD COLUMN     "labels" JSONB,
ADD COLUMN     "targetLabel" TEXT;

-- CreateIndex
CREATE INDEX "api_key_tags_tenantId_tagLower_idx" ON "api_key_tags"("tenantId", "tagLower");

-- CreateIndex
CREATE INDEX "audit_events_tenantId_actorType_actorId_idx" ON "audit_events"("tenantId", "actorType", "actorId");
