-- CreateTable
CREATE TABLE "key_changes" (
    "id" BIGSERIAL NOT NULL,
    "keyId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "origin" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "key_changes_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "key_changes_createdAt_idx" ON "key_changes"("createdAt");
