-- CreateIndex
CREATE INDEX "api_keys_tenantId_name_idx" ON "api_keys"("tenantId", "name");

-- CreateIndex
CREATE INDEX "api_keys_tenantId_lastUsedAt_idx" ON "api_keys"("tenantId", "lastUsedAt");
