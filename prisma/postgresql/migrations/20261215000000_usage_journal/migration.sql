-- CreateTable
CREATE TABLE "usage_journal" (
    "id" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "writtenAt" TIMESTAMPTZ(3) NOT NULL,
    "payload" TEXT NOT NULL,

    CONSTRAINT "usage_journal_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "usage_journal_leases" (
    "owner" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "usage_journal_leases_pkey" PRIMARY KEY ("owner")
);

-- CreateIndex
CREATE INDEX "usage_journal_owner_idx" ON "usage_journal"("owner");
