-- Each key's usage over the trailing 30 UTC days, kept with every usage batch and rolled forward
-- each day by the app (src/data/repositories/usage-window.ts). The state starts at the epoch: the
-- app's first roll fills the tables from usage_daily and usage_outcomes_daily. WITHOUT ROWID (not
-- something Prisma writes; its schema cannot say it): rows are stored in their primary key's
-- B-tree, so an upsert and a key's outcome rows are one descent instead of an index and a table.

-- CreateTable
CREATE TABLE "usage_key_window" (
    "keyId" TEXT NOT NULL PRIMARY KEY,
    "tenantId" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- CreateTable
CREATE TABLE "usage_key_window_outcomes" (
    "keyId" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,

    PRIMARY KEY ("keyId", "outcome")
) WITHOUT ROWID;

-- CreateTable
CREATE TABLE "usage_window_state" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "startDay" DATETIME NOT NULL,
    "endDay" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "usage_key_window_tenantId_requests_spendMicroCents_keyId_idx" ON "usage_key_window"("tenantId", "requests" DESC, "spendMicroCents" DESC, "keyId");

INSERT INTO "usage_window_state" ("id", "startDay", "endDay") VALUES (1, '1970-01-01T00:00:00.000+00:00', '1970-01-01T00:00:00.000+00:00');
