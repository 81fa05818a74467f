// Must NOT type-check: the package's types are real, not `any` (test/package checks both errors).
import type { Request } from 'express';
import { apiKeyAuth, createMemoryLimits, KeyHasher } from '@keyward/guard';

apiKeyAuth({ keys: 42, hasher: new KeyHasher({ 1: 'secret' }), limits: createMemoryLimits() });
export const tenant: number = ({} as Request).apiKey!.tenantId;
