-- CreateTable
CREATE TABLE "tenants" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "tenants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "users" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "passwordHash" TEXT NOT NULL,
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "isPlatformAdmin" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "memberships" (
    "userId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "memberships_pkey" PRIMARY KEY ("userId","tenantId")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "ownerId" TEXT,
    "prefix" TEXT NOT NULL,
    "secretHash" TEXT NOT NULL,
    "hashVersion" INTEGER NOT NULL,
    "last4" TEXT NOT NULL,
    "previousSecretHash" TEXT,
    "previousHashVersion" INTEGER,
    "previousSecretExpiresAt" TIMESTAMPTZ(3),
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "metadata" JSONB NOT NULL,
    "scopes" JSONB NOT NULL,
    "tier" TEXT NOT NULL,
    "rateLimitPerMinute" INTEGER,
    "rateLimitPerHour" INTEGER,
    "rateLimitPerDay" INTEGER,
    "rateLimitPerMonth" INTEGER,
    "allowedIps" JSONB NOT NULL,
    "allowedModels" JSONB NOT NULL,
    "allowedChatbots" JSONB NOT NULL,
    "usageLimit" INTEGER,
    "budgetLimitCents" INTEGER,
    "budgetPeriod" TEXT,
    "expiresAt" TIMESTAMPTZ(3),
    "status" TEXT NOT NULL,
    "revokedAt" TIMESTAMPTZ(3),
    "requestsOk" BIGINT NOT NULL DEFAULT 0,
    "requestsFailed" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,
    "budgetPeriodStart" TIMESTAMPTZ(3),
    "budgetSpentMicroCents" BIGINT NOT NULL DEFAULT 0,
    "budgetCeilingMicroCents" BIGINT NOT NULL DEFAULT 0,
    "quotaCeiling" BIGINT NOT NULL DEFAULT 0,
    "lastUsedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_key_tags" (
    "keyId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "tag" TEXT NOT NULL,

    CONSTRAINT "api_key_tags_pkey" PRIMARY KEY ("keyId","tag")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT,
    "actorType" TEXT NOT NULL,
    "actorId" TEXT,
    "actorLabel" TEXT,
    "action" TEXT NOT NULL,
    "targetType" TEXT NOT NULL,
    "targetId" TEXT,
    "changes" JSONB,
    "ip" TEXT,
    "userAgent" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "usage_hourly" (
    "keyId" TEXT NOT NULL,
    "bucketStart" TIMESTAMPTZ(3) NOT NULL,
    "tenantId" TEXT NOT NULL,
    "requestsOk" BIGINT NOT NULL DEFAULT 0,
    "requestsFailed" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_hourly_pkey" PRIMARY KEY ("keyId","bucketStart")
);

-- CreateTable
CREATE TABLE "usage_daily" (
    "keyId" TEXT NOT NULL,
    "bucketStart" TIMESTAMPTZ(3) NOT NULL,
    "tenantId" TEXT NOT NULL,
    "requestsOk" BIGINT NOT NULL DEFAULT 0,
    "requestsFailed" BIGINT NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "spendMicroCents" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_daily_pkey" PRIMARY KEY ("keyId","bucketStart")
);

-- CreateTable
CREATE TABLE "sessions" (
    "sid" TEXT NOT NULL,
    "data" TEXT NOT NULL,
    "userId" TEXT,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sessions_pkey" PRIMARY KEY ("sid")
);

-- CreateIndex
CREATE UNIQUE INDEX "tenants_slug_key" ON "tenants"("slug");

-- CreateIndex
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

-- CreateIndex
CREATE INDEX "memberships_tenantId_idx" ON "memberships"("tenantId");

-- CreateIndex
CREATE INDEX "api_keys_tenantId_createdAt_idx" ON "api_keys"("tenantId", "createdAt");

-- CreateIndex
CREATE INDEX "api_keys_tenantId_status_createdAt_idx" ON "api_keys"("tenantId", "status", "createdAt");

-- CreateIndex
CREATE INDEX "api_keys_tenantId_ownerId_createdAt_idx" ON "api_keys"("tenantId", "ownerId", "createdAt");

-- CreateIndex
CREATE INDEX "api_keys_tenantId_expiresAt_idx" ON "api_keys"("tenantId", "expiresAt");

-- CreateIndex
CREATE INDEX "api_key_tags_tenantId_tag_idx" ON "api_key_tags"("tenantId", "tag");

-- CreateIndex
CREATE INDEX "audit_events_tenantId_createdAt_idx" ON "audit_events"("tenantId", "createdAt");

-- CreateIndex
CREATE INDEX "audit_events_tenantId_action_createdAt_idx" ON "audit_events"("tenantId", "action", "createdAt");

-- CreateIndex
CREATE INDEX "audit_events_tenantId_targetId_createdAt_idx" ON "audit_events"("tenantId", "targetId", "createdAt");

-- CreateIndex
CREATE INDEX "audit_events_tenantId_actorId_createdAt_idx" ON "audit_events"("tenantId", "actorId", "createdAt");

-- CreateIndex
CREATE INDEX "usage_hourly_tenantId_bucketStart_idx" ON "usage_hourly"("tenantId", "bucketStart");

-- CreateIndex
CREATE INDEX "usage_daily_tenantId_bucketStart_idx" ON "usage_daily"("tenantId", "bucketStart");

-- CreateIndex
CREATE INDEX "sessions_userId_idx" ON "sessions"("userId");

-- CreateIndex
CREATE INDEX "sessions_expiresAt_idx" ON "sessions"("expiresAt");

-- AddForeignKey
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_key_tags" ADD CONSTRAINT "api_key_tags_keyId_fkey" FOREIGN KEY ("keyId") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
