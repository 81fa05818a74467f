/** Response shapes of GET/PATCH /api/v1/tenant and /api/v1/owners/{userId}/limits (for the OpenAPI document and its tests). */
import { z } from 'zod';
import { budgetStatusSchema } from './usage-presenter';

const perWindow = (windows: string[]) =>
  z.object(Object.fromEntries(windows.map((w) => [w, z.number().int().nullable()]))).describe('Limits per window; null: none.');

const levelFields = {
  budget: budgetStatusSchema.describe('The budget with what is spent and left in the current period; null: none.'),
  rateLimits: perWindow(['perMinute', 'perHour', 'perDay', 'perMonth']),
  tokenLimits: perWindow(['perMinute', 'perDay']),
};

export const tenantLimitsSchema = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  ...levelFields,
  alertThresholds: z.array(z.number().int()).describe('Percents of a budget or quota at which alerts fire (per level and period, once).'),
});

export const ownerLimitsSchema = z.object({
  userId: z.string(),
  email: z.string(),
  ...levelFields,
});
