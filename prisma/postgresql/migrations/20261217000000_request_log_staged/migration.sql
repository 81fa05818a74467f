-- Request-log rows of journaled usage batches wait here until the fold that applies their batch
-- moves them into request_log sorted by key (see the RequestLogStaged model): inserted one by one
-- under many distinct keys, each row dirties a page of request_log's (keyId, at, id) index.
-- CreateTable
CREATE TABLE "request_log_staged" (
    "id" BIGSERIAL NOT NULL,
    "batchId" TEXT NOT NULL,
    "keyId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "outcome" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "ip" TEXT NOT NULL,
    "model" TEXT,
    "chatbot" TEXT,
    "tokens" BIGINT NOT NULL,
    "costMicroCents" BIGINT NOT NULL,
    "latencyMs" INTEGER NOT NULL,
    "requestId" TEXT,
    "userAgent" TEXT,

    CONSTRAINT "request_log_staged_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "request_log_staged_batchId_idx" ON "request_log_staged"("batchId");
