-- CreateTable
CREATE TABLE "usage_batches" (
    "id" TEXT NOT NULL,
    "writtenAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "usage_batches_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "usage_batches_writtenAt_idx" ON "usage_batches"("writtenAt");
