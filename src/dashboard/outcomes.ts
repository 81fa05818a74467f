/**
 * How request outcomes read on the dashboard: a plain name beside each code ("Rate limited" for
 * `rate_limited`), the outcome filter's choices, and the refusal reasons of a period with their
 * share of every request.
 */
import type { OutcomeCounts, RefusalReason } from '../usage/outcome-report';
import { ADMITTED_OUTCOMES, REFUSAL_OUTCOMES, type RequestOutcome } from '@keyward/guard';

/** The plain name of every outcome code. */
export const OUTCOME_LABELS: Record<RequestOutcome, string> = {
  ok: 'Succeeded',
  failed: 'Failed',
  client_closed: 'Client left',
  invalid_api_key: 'Wrong secret',
  key_revoked: 'Key revoked',
  key_inactive: 'Key inactive',
  key_expired: 'Key expired',
  ip_not_allowed: 'IP not allowed',
  insufficient_scope: 'Missing scope',
  model_not_allowed: 'Model not allowed',
  chatbot_not_allowed: 'Chatbot not allowed',
  invalid_request: 'Invalid request',
  rate_limited: 'Rate limited',
  quota_exceeded: 'Quota used up',
  budget_exceeded: 'Budget used up',
  limits_unavailable: 'Limits unavailable',
};

/** "Rate limited" for `rate_limited`; an unknown code reads as itself. */
export function outcomeLabel(code: string): string {
  return OUTCOME_LABELS[code as RequestOutcome] ?? code;
}

/** The outcome filter's choices, in groups. */
export const OUTCOME_CHOICES = {
  admitted: ADMITTED_OUTCOMES.map((code) => ({ code, label: OUTCOME_LABELS[code] })),
  refused: REFUSAL_OUTCOMES.map((code) => ({ code, label: OUTCOME_LABELS[code] })),
};

/** A refusal reason as a list shows it: name, code, count and share of every request. */
export interface RefusalRow {
  code: string;
  label: string;
  requests: number;
  /** Whole percent of every request of the period. */
  percent: number;
}

/** The refusal reasons of a period, with their share of its `total` requests. */
export function refusalRows(reasons: RefusalReason[], total: number): RefusalRow[] {
  return reasons.map((r) => ({
    code: r.outcome,
    label: OUTCOME_LABELS[r.outcome],
    requests: r.requests,
    percent: total > 0 ? Math.round((r.requests / total) * 100) : 0,
  }));
}

/** Succeeded, failed, client left and refused counts of a period. */
export function outcomeSummary(counts: OutcomeCounts): { total: number; ok: number; failed: number; clientClosed: number; refused: number } {
  const refused = REFUSAL_OUTCOMES.reduce((sum, code) => sum + counts[code], 0);
  return {
    total: counts.ok + counts.failed + counts.client_closed + refused,
    ok: counts.ok,
    failed: counts.failed,
    clientClosed: counts.client_closed,
    refused,
  };
}
