/** "Would this request pass?": the guard's checks, in order, without counting. */
import { parseConfig } from '../../src/config';
import { checkRequest, requestCheckIssues } from '../../src/dashboard/request-check';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';
import type { LimitStatus } from '../../packages/guard/src/limits/limit-status';

const models = new Map(parseConfig({}).llm.models.map((m) => [m.id, m]));
const now = new Date('2026-11-22T12:00:00Z');

function key(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    status: 'active',
    expiresAt: null,
    allowedIps: [],
    allowedModels: [],
    allowedChatbots: [],
    scopes: ['api'],
    ...overrides,
  } as ApiKeyRecord;
}

const open: LimitStatus = {
  rateLimits: [{ window: 'minute', limit: 10, remaining: 10, reset: 60, resetsAt: now.toISOString() }],
  tokenLimits: [],
  quota: null,
  budget: null,
  concurrency: null,
  levels: [],
};

const run = (k: ApiKeyRecord, input: { ip?: string; model?: string; chatbot?: string } = {}, limits = open) =>
  checkRequest(k, { ip: input.ip ?? '10.0.0.1', model: input.model ?? 'local-small', chatbot: input.chatbot ?? '' }, limits, { now, models, defaultMaxTokens: 1024 });

test('passes an open key', () => {
  const result = run(key());
  expect(result.refusal).toBeNull();
  expect(result.steps.map((s) => s.check)).toEqual(['Status', 'Client IP', 'Scope', 'Model', 'Chatbot', 'Request', 'Rate limits', 'Quota', 'Budget']);
});

test('agrees with /api on the model: none is 400 invalid_request, an unknown one 404 model_not_found', () => {
  expect(run(key(), { model: '' }).refusal).toMatchObject({ check: 'Request', code: 'invalid_request', status: 400 });
  expect(run(key(), { model: '   ' }).refusal).toMatchObject({ code: 'invalid_request', status: 400 });
  expect(run(key(), { model: 'gpt-nonexistent' }).refusal).toMatchObject({ check: 'Request', code: 'model_not_found', status: 404 });
  // The key's model list is checked first, as the guard does: an unlisted model is 403 before 404.
  expect(run(key({ allowedModels: ['local-small'] }), { model: 'gpt-nonexistent' }).refusal).toMatchObject({ code: 'model_not_allowed', status: 403 });
  // A model list may name a model the catalog does not have: listed, but still 404.
  expect(run(key({ allowedModels: ['retired-model'] }), { model: 'retired-model' }).refusal).toMatchObject({ code: 'model_not_found' });
  // No model and a model list: the list is not consulted, the request is still invalid.
  expect(run(key({ allowedModels: ['local-small'] }), { model: '' }).refusal).toMatchObject({ code: 'invalid_request' });
  // An earlier refusal answers first, as in the guard.
  expect(run(key({ status: 'revoked' }), { model: '' }).refusal?.code).toBe('key_revoked');
});

test('names the first refusing check, in the guard\'s order', () => {
  expect(run(key({ status: 'revoked', allowedIps: ['192.0.2.0/24'] })).refusal?.code).toBe('key_revoked');
  expect(run(key({ expiresAt: new Date('2026-01-01T00:00:00Z') })).refusal?.code).toBe('key_expired');
  expect(run(key({ allowedIps: ['192.0.2.0/24'] }), { ip: '10.0.0.1' }).refusal).toMatchObject({ code: 'ip_not_allowed', status: 403 });
  expect(run(key({ allowedIps: ['10.0.0.0/8'] }), { ip: '::ffff:10.1.1.1' }).refusal).toBeNull();
  expect(run(key({ scopes: ['keys:read'] })).refusal?.code).toBe('insufficient_scope');
  expect(run(key({ scopes: ['admin'] })).refusal).toBeNull();
  expect(run(key({ allowedModels: ['local-large'] })).refusal?.code).toBe('model_not_allowed');
  expect(run(key({ allowedChatbots: ['helpdesk'] })).refusal?.detail).toContain('X-Chatbot-Id');
  expect(run(key({ allowedChatbots: ['helpdesk'] }), { chatbot: 'helpdesk' }).refusal).toBeNull();
  const full: LimitStatus = { ...open, rateLimits: [{ window: 'hour', limit: 100, remaining: 0, reset: 1200, resetsAt: now.toISOString() }] };
  expect(run(key(), {}, full).refusal).toMatchObject({ code: 'rate_limited', status: 429 });
  expect(run(key(), {}, { ...open, quota: { used: 5, limit: 5, remaining: 0, period: 'total', resetsAt: null } }).refusal?.code).toBe('quota_exceeded');
  const budget = { limitCents: 100, period: 'total' as const, spentCents: 100, remainingCents: 0, resetsAt: null };
  expect(run(key(), {}, { ...open, budget }).refusal).toMatchObject({ code: 'budget_exceeded', status: 402 });
});

test('asks for a real IP address', () => {
  expect(requestCheckIssues({ ip: '', model: '', chatbot: '' }).ip).toMatch(/required/);
  expect(requestCheckIssues({ ip: '10.0.0.0/8', model: '', chatbot: '' }).ip).toMatch(/IPv4 or IPv6 address/);
  expect(requestCheckIssues({ ip: '2001:db8::1', model: '', chatbot: '' })).toEqual({});
});

test('names the level that would refuse: the owner\'s or the tenant\'s windows and budgets, the key\'s token windows and concurrency', () => {
  const window = (remaining: number) => ({ window: 'minute', limit: 10, remaining, reset: 42, resetsAt: now.toISOString() });
  const budget = (remainingCents: number) => ({ limitCents: 5, period: 'monthly' as const, spentCents: 5 - remainingCents, remainingCents, resetsAt: null });
  const tenantFull: LimitStatus = { ...open, levels: [{ level: 'tenant', rateLimits: [window(0)], tokenLimits: [], budget: null }] };
  expect(run(key(), {}, tenantFull).refusal).toMatchObject({ check: 'Tenant limits', code: 'rate_limited', level: 'tenant' });
  expect(run(key(), {}, tenantFull).refusal?.detail).toMatch(/The tenant's minute window is full; it resets in 42 s/);
  const ownerBroke: LimitStatus = { ...open, levels: [{ level: 'owner', rateLimits: [], tokenLimits: [], budget: budget(0) }, { level: 'tenant', rateLimits: [window(5)], tokenLimits: [], budget: null }] };
  expect(run(key(), {}, ownerBroke).refusal).toMatchObject({ check: 'Owner limits', code: 'budget_exceeded', status: 402, level: 'owner' });
  const fine: LimitStatus = { ...open, levels: [{ level: 'tenant', rateLimits: [window(5)], tokenLimits: [window(900)], budget: budget(4) }] };
  expect(run(key(), {}, fine).refusal).toBeNull();
  expect(run(key(), {}, fine).steps.at(-1)?.detail).toMatch(/5 of 10 requests left this minute; 900 of 10 tokens left this minute; \$0\.04 of the budget left/);
  expect(run(key(), {}, { ...open, tokenLimits: [window(0)] }).refusal).toMatchObject({ check: 'Token limits', level: 'key' });
  expect(run(key(), {}, { ...open, concurrency: { limit: 2, inFlight: 2 } }).refusal).toMatchObject({ check: 'Concurrency', code: 'rate_limited' });
});
