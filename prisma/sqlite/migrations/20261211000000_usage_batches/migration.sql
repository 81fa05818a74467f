-- CreateTable
CREATE TABLE "usage_batches" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "writtenAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "usage_batches_writtenAt_idx" ON "usage_batches"("writtenAt");
