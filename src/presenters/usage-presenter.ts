import { z } from 'zod';
import { BUDGET_PERIODS } from '../keys/key-types';
import { microCentsToCents } from '../limits/periods';
import type { KeyUsageReport, UsagePoint } from '../usage/usage-report';

const window = z.object({ requests: z.number().int(), tokens: z.number().int(), costCents: z.number() });

/** Where a key's budget stands (null when the key has no budget). */
export const budgetStatusSchema = z
  .object({
    limitCents: z.number().int(),
    period: z.enum(BUDGET_PERIODS),
    spentCents: z.number(),
    remainingCents: z.number(),
    resetsAt: z.iso.datetime({ offset: true }).nullable().describe('When a monthly budget starts over; null for a total budget.'),
  })
  .nullable();

export const keyUsageSchema = z
  .object({
    totalRequests: z.number().int(),
    successfulRequests: z.number().int(),
    failedRequests: z.number().int(),
    totalTokens: z.number().int(),
    totalCostCents: z.number(),
    today: window,
    thisHour: window,
    daily: z.array(window.extend({ date: z.iso.date() })).describe('The last 30 UTC days, oldest first.'),
    lastUsedAt: z.iso.datetime({ offset: true }).nullable(),
    budget: budgetStatusSchema,
  });

export type KeyUsageView = z.infer<typeof keyUsageSchema>;

const point = (p: UsagePoint) => ({ requests: p.requests, tokens: p.tokens, costCents: microCentsToCents(p.spendMicroCents) });

export function presentKeyUsage(report: KeyUsageReport): KeyUsageView {
  const budget = report.limits.budget;
  return {
    totalRequests: report.totals.requestsOk + report.totals.requestsFailed,
    successfulRequests: report.totals.requestsOk,
    failedRequests: report.totals.requestsFailed,
    totalTokens: report.totals.tokens,
    totalCostCents: microCentsToCents(report.totals.spendMicroCents),
    today: point(report.today),
    thisHour: point(report.thisHour),
    daily: report.daily.map((p) => ({ date: p.start.toISOString().slice(0, 10), ...point(p) })),
    lastUsedAt: report.totals.lastUsedAt?.toISOString() ?? null,
    budget: budget
      ? {
          limitCents: budget.limitCents,
          period: budget.period,
          spentCents: budget.spentCents,
          remainingCents: budget.remainingCents,
          resetsAt: budget.resetsAt,
        }
      : null,
  };
}
