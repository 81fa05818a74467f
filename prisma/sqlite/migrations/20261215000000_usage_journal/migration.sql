-- CreateTable
CREATE TABLE "usage_journal" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "owner" TEXT NOT NULL,
    "writtenAt" DATETIME NOT NULL,
    "payload" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "usage_journal_leases" (
    "owner" TEXT NOT NULL PRIMARY KEY,
    "expiresAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "usage_journal_owner_idx" ON "usage_journal"("owner");
