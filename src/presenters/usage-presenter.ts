import { z } from 'zod';
import { BUDGET_PERIODS, microCentsToCents, REQUEST_OUTCOMES, type RequestOutcome } from '@keyward/guard';
import type { ModelUsage } from '../data/repositories/outcomes';
import type { OutcomeCounts } from '../usage/outcome-report';
import type { KeyUsageReport, UsagePoint } from '../usage/usage-report';

const window = z.object({ requests: z.number().int(), tokens: z.number().int(), costCents: z.number() });

/** Requests by outcome code: every code present (0 when none), so the shape never changes. */
export const outcomeCountsSchema = z
  .object(Object.fromEntries(REQUEST_OUTCOMES.map((outcome) => [outcome, z.number().int()])) as Record<RequestOutcome, z.ZodNumber>)
  .describe(
    'Requests by outcome: `ok` (2xx/3xx), `failed` (4xx/5xx from the handler), `client_closed`, or the refusal code. Every code is present, 0 when none.',
  );

/** Admitted requests naming one model: how many, tokens, cost in cents (micro-cent precision). */
export const modelUsageSchema = z.object({ model: z.string(), requests: z.number().int(), tokens: z.number().int(), costCents: z.number() });

/** One model's row of `models` (cents with micro-cent precision). */
export const presentModelUsage = (m: ModelUsage) => ({ model: m.model, requests: m.requests, tokens: m.tokens, costCents: microCentsToCents(m.spendMicroCents) });

const copyOutcomes = (counts: OutcomeCounts): OutcomeCounts => ({ ...counts });

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
    daily: z
      .array(window.extend({ date: z.iso.date(), outcomes: outcomeCountsSchema }))
      .describe('The last 30 UTC days, oldest first. `requests`, `tokens`, `costCents`: admitted requests; `outcomes`: every request, refusals included.'),
    lastUsedAt: z.iso.datetime({ offset: true }).nullable(),
    budget: budgetStatusSchema,
    outcomes: outcomeCountsSchema.describe('Every request of the last 30 UTC days (today included) by outcome, refusals included.'),
    models: z.array(modelUsageSchema).describe('Admitted requests of the last 30 UTC days by the model they named, most requested first.'),
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
    daily: report.daily.map((p, i) => ({
      date: p.start.toISOString().slice(0, 10),
      ...point(p),
      outcomes: copyOutcomes(report.outcomes.daily[i].outcomes),
    })),
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
    outcomes: copyOutcomes(report.outcomes.last30Days),
    models: report.outcomes.models.map(presentModelUsage),
  };
}
