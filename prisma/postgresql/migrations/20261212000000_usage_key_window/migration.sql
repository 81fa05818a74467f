-- Each key's usage over the trailing 30 UTC days, kept with every usage batch and rolled forward
-- each day by the app (src/data/repositories/usage-window.ts). The state starts at the epoch: the
-- app's first roll fills the tables from usage_daily and usage_outcomes_daily.

-- CreateTable
CREATE TABLE "usage_key_window" (
    "keyId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_key_window_pkey" PRIMARY KEY ("keyId")
);

-- CreateTable
CREATE TABLE "usage_key_window_outcomes" (
    "keyId" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "requests" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_key_window_outcomes_pkey" PRIMARY KEY ("keyId","outcome")
);

-- CreateTable
CREATE TABLE "usage_window_state" (
    "id" INTEGER NOT NULL,
    "startDay" TIMESTAMPTZ(3) NOT NULL,
    "endDay" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "usage_window_state_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "usage_key_window_tenantId_requests_spendMicroCents_keyId_idx" ON "usage_key_window"("tenantId", "requests" DESC, "spendMicroCents" DESC, "keyId");

INSERT INTO "usage_window_state" ("id", "startDay", "endDay") VALUES (1, '1970-01-01 00:00:00+00', '1970-01-01 00:00:00+00');
