/**
 * The OpenAPI paths and components of /api/v1/tenant and /api/v1/owners/{userId}/limits (the
 * limits above keys), from the zod schemas that validate the bodies and type the responses.
 */
import type { z } from 'zod';
import { ownerLimitsPatchSchema, tenantLimitsPatchSchema } from '../../governance/level-input';
import { ownerLimitsSchema, tenantLimitsSchema } from '../../presenters/level-presenter';
import type { DocumentHelpers } from './webhook-paths';

export const governanceComponents = {
  input: { TenantLimitsPatch: tenantLimitsPatchSchema, OwnerLimitsPatch: ownerLimitsPatchSchema } as Record<string, z.ZodType>,
  output: { TenantLimits: tenantLimitsSchema, OwnerLimits: ownerLimitsSchema } as Record<string, z.ZodType>,
};

export function governancePaths({ operation, ref, json, guardErrors }: DocumentHelpers): Record<string, unknown> {
  const userId = { name: 'userId', in: 'path', required: true, description: 'A member of the calling key\'s tenant.', schema: { type: 'string' } };
  return {
    '/api/v1/tenant': {
      get: operation({
        id: 'getTenantLimits',
        summary: 'The calling key\'s tenant with its limits (budget with what is spent, request and token windows) and alert thresholds',
        scopes: ['keys:read'],
        ok: { status: 200, description: 'The tenant', content: json(ref('TenantLimits')) },
        errors: guardErrors,
      }),
      patch: operation({
        id: 'updateTenantLimits',
        summary: 'Change the tenant\'s limits: every key of the tenant must fit them (absent fields stay; null clears a limit)',
        scopes: ['admin'],
        request: ref('TenantLimitsPatch'),
        ok: { status: 200, description: 'The tenant', content: json(ref('TenantLimits')) },
        errors: [400, ...guardErrors],
      }),
    },
    '/api/v1/owners/{userId}/limits': {
      get: operation({
        id: 'getOwnerLimits',
        summary: 'A key owner\'s limits within the tenant: every key they own must fit them together',
        scopes: ['keys:read'],
        parameters: [userId],
        ok: { status: 200, description: 'The owner\'s limits', content: json(ref('OwnerLimits')) },
        errors: [...guardErrors, 404],
      }),
      patch: operation({
        id: 'updateOwnerLimits',
        summary: 'Change a key owner\'s limits (absent fields stay; null clears a limit)',
        scopes: ['admin'],
        parameters: [userId],
        request: ref('OwnerLimitsPatch'),
        ok: { status: 200, description: 'The owner\'s limits', content: json(ref('OwnerLimits')) },
        errors: [400, ...guardErrors, 404],
      }),
    },
  };
}
