/**
 * "Would this request pass?": runs a key through the /api guard's checks, in the guard's order,
 * for a client IP, a model and (optionally) a chatbot, and says which check would refuse and why.
 * Like /api, a request naming no model (400 invalid_request) or an unknown one (404
 * model_not_found) is refused after the key's own checks and before anything is counted.
 * It reuses what the guard uses (status, IP allowlist matcher, scopes, limit status) and counts
 * nothing: rate windows and budgets are only looked at.
 */
import type { CatalogModel } from '../config/model-catalog';
import { type ApiKeyRecord, compileIpAllowlist, DENIALS, displayStatus, holdsScope, type LevelStatus, type LimitStatus, normalizeIpEntry } from '@keyward/guard';
import { costMicroCents } from '../llm/pricing';
import { formatCount, formatMicroCents } from './format';

/** The request to check, as typed in the form. */
export interface RequestCheckInput {
  ip: string;
  model: string;
  chatbot: string;
}

/** One check of the guard and its outcome. */
export interface CheckStep {
  check: string;
  passed: boolean;
  /** Why, in a sentence. */
  detail: string;
  /** The /api error code and status when this step refuses. */
  code?: string;
  status?: number;
  /** Where a limit refuses (the API's `error.level`). */
  level?: 'key' | 'owner' | 'tenant';
}

/** Every check in the guard's order, and the one that would answer. */
export interface RequestCheckResult {
  steps: CheckStep[];
  /** The first refusing step (the guard answers with it), or null when the request would pass. */
  refusal: CheckStep | null;
}

/** Checks the form's input; returns field messages (empty when fine). */
export function requestCheckIssues(input: RequestCheckInput): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!input.ip.trim()) errors.ip = 'is required: the address the request would come from';
  else if (!normalizeIpEntry(input.ip.trim()) || input.ip.includes('/')) errors.ip = 'must be an IPv4 or IPv6 address, e.g. 203.0.113.7';
  return errors;
}

function refuse(check: string, code: keyof typeof DENIALS, detail: string, level?: CheckStep['level']): CheckStep {
  return { check, passed: false, detail, code, status: DENIALS[code].status, ...(level ? { level } : {}) };
}

const LEVEL_NAMES = { owner: "The key owner's", tenant: "The tenant's" } as const;

/** A level's windows and budget: the first that would refuse, or a pass listing what is left. */
function levelStep(level: LevelStatus, reserve: number, model: string): CheckStep {
  const check = level.level === 'owner' ? 'Owner limits' : 'Tenant limits';
  const who = LEVEL_NAMES[level.level];
  const full = [...level.rateLimits, ...level.tokenLimits.map((w) => ({ ...w, window: `${w.window} token` }))].filter((w) => w.remaining <= 0);
  if (full.length > 0) {
    const resets = Math.max(...full.map((w) => w.reset));
    return refuse(check, 'rate_limited', `${who} ${full.map((w) => w.window).join(', ')} window is full; it resets in ${formatCount(resets)} s.`, level.level);
  }
  if (level.budget) {
    const remainingMicro = Math.round(level.budget.remainingCents * 1_000_000);
    if (remainingMicro <= 0 || reserve > remainingMicro) {
      const left = formatMicroCents(Math.max(0, remainingMicro));
      const detail =
        remainingMicro <= 0
          ? `${who} budget is used up (${left} left).`
          : `Only ${left} of ${who.toLowerCase()} budget is left; a request to "${model}" reserves up to ${formatMicroCents(reserve)}.`;
      return refuse(check, 'budget_exceeded', detail, level.level);
    }
  }
  const parts = [
    ...level.rateLimits.map((w) => `${formatCount(w.remaining)} of ${formatCount(w.limit)} requests left this ${w.window}`),
    ...level.tokenLimits.map((w) => `${formatCount(w.remaining)} of ${formatCount(w.limit)} tokens left this ${w.window}`),
    ...(level.budget ? [`${formatMicroCents(Math.round(level.budget.remainingCents * 1_000_000))} of the budget left`] : []),
  ];
  return { check, passed: true, detail: `${parts.join('; ')}.` };
}

/** A refusal by the chat route's request validation (not a guard denial): 400 or 404. */
function invalid(status: 400 | 404, code: 'invalid_request' | 'model_not_found', detail: string): CheckStep {
  return { check: 'Request', passed: false, detail, code, status };
}

/**
 * The guard's checks for POST /api/v1/chat/completions (scope `api`) with this key, input and
 * the key's current limit status.
 */
export function checkRequest(
  key: ApiKeyRecord,
  input: RequestCheckInput,
  limits: LimitStatus,
  options: { now: Date; models: ReadonlyMap<string, CatalogModel>; defaultMaxTokens: number },
): RequestCheckResult {
  const steps: CheckStep[] = [];
  const ip = input.ip.trim();
  const model = input.model.trim();
  const chatbot = input.chatbot.trim();

  const status = displayStatus(key, options.now);
  if (status === 'revoked') steps.push(refuse('Status', 'key_revoked', 'The key is revoked.'));
  else if (status === 'inactive') steps.push(refuse('Status', 'key_inactive', 'The key is deactivated; activate it to use it again.'));
  else if (status === 'expired') steps.push(refuse('Status', 'key_expired', 'The key has expired.'));
  else steps.push({ check: 'Status', passed: true, detail: 'The key is active and not expired.' });

  if (key.allowedIps.length === 0) {
    steps.push({ check: 'Client IP', passed: true, detail: 'The key accepts every address.' });
  } else if (compileIpAllowlist(key.allowedIps)(ip)) {
    steps.push({ check: 'Client IP', passed: true, detail: `${ip} is in the allowlist.` });
  } else {
    steps.push(refuse('Client IP', 'ip_not_allowed', `${ip} is not in the allowlist (${key.allowedIps.join(', ')}).`));
  }

  steps.push(
    holdsScope(key.scopes, 'api')
      ? { check: 'Scope', passed: true, detail: 'The key holds the scope "api" that /api/v1 needs.' }
      : refuse('Scope', 'insufficient_scope', 'The key lacks the scope "api" that /api/v1 needs.'),
  );

  if (key.allowedModels.length === 0) {
    steps.push({ check: 'Model', passed: true, detail: 'The key may use every model.' });
  } else if (!model) {
    steps.push({ check: 'Model', passed: true, detail: 'No model named: the key\'s model list is checked only when a request names one.' });
  } else if (key.allowedModels.includes(model)) {
    steps.push({ check: 'Model', passed: true, detail: `"${model}" is one of the key's models.` });
  } else {
    steps.push(refuse('Model', 'model_not_allowed', `"${model}" is not one of the key's models (${key.allowedModels.join(', ')}).`));
  }

  if (key.allowedChatbots.length === 0) {
    steps.push({ check: 'Chatbot', passed: true, detail: 'The key is not limited to chatbots.' });
  } else if (chatbot && key.allowedChatbots.includes(chatbot)) {
    steps.push({ check: 'Chatbot', passed: true, detail: `"${chatbot}" is one of the key's chatbots.` });
  } else {
    steps.push(
      refuse(
        'Chatbot',
        'chatbot_not_allowed',
        chatbot
          ? `"${chatbot}" is not one of the key's chatbots (${key.allowedChatbots.join(', ')}).`
          : `The key is limited to chatbots: the request must name one in X-Chatbot-Id (${key.allowedChatbots.join(', ')}).`,
      ),
    );
  }

  // The chat route's own validation comes next, before anything is counted (chat-plan.ts).
  if (!model) {
    steps.push(invalid(400, 'invalid_request', 'The request names no model; /api refuses a chat request without one.'));
  } else if (!options.models.has(model)) {
    steps.push(
      invalid(404, 'model_not_found', `There is no model "${model}" (GET /api/v1/models lists them: ${[...options.models.keys()].join(', ')}).`),
    );
  } else {
    steps.push({ check: 'Request', passed: true, detail: `"${model}" exists.` });
  }

  const full = limits.rateLimits.filter((w) => w.remaining <= 0);
  steps.push(
    full.length > 0
      ? refuse(
          'Rate limits',
          'rate_limited',
          `The ${full.map((w) => w.window).join(', ')} window is full; it resets in ${formatCount(Math.max(...full.map((w) => w.reset)))} s.`,
        )
      : {
          check: 'Rate limits',
          passed: true,
          detail: limits.rateLimits.map((w) => `${formatCount(w.remaining)} of ${formatCount(w.limit)} left this ${w.window}`).join('; '),
        },
  );

  if (!limits.quota) steps.push({ check: 'Quota', passed: true, detail: 'The key has no request quota.' });
  else if (limits.quota.remaining <= 0) {
    steps.push(refuse('Quota', 'quota_exceeded', `All ${formatCount(limits.quota.limit)} requests of the quota are used.`));
  } else {
    steps.push({ check: 'Quota', passed: true, detail: `${formatCount(limits.quota.remaining)} of ${formatCount(limits.quota.limit)} requests left.` });
  }

  const catalog = options.models.get(model);
  const reserve = catalog ? costMicroCents(catalog, 0, Math.min(options.defaultMaxTokens, catalog.maxOutputTokens)) : 0;
  if (limits.concurrency && limits.concurrency.inFlight >= limits.concurrency.limit) {
    steps.push(refuse('Concurrency', 'rate_limited', `${formatCount(limits.concurrency.inFlight)} requests are in progress, the key's limit.`, 'key'));
  }
  const fullTokens = limits.tokenLimits.filter((w) => w.remaining <= 0);
  if (fullTokens.length > 0) {
    steps.push(refuse('Token limits', 'rate_limited', `The key's ${fullTokens.map((w) => w.window).join(', ')} token window is full; it resets in ${formatCount(Math.max(...fullTokens.map((w) => w.reset)))} s.`, 'key'));
  }
  if (!limits.budget) {
    steps.push({ check: 'Budget', passed: true, detail: 'The key has no budget.' });
  } else {
    const remainingMicro = Math.round(limits.budget.remainingCents * 1_000_000);
    const left = formatMicroCents(remainingMicro);
    if (remainingMicro <= 0 || reserve > remainingMicro) {
      steps.push(
        refuse(
          'Budget',
          'budget_exceeded',
          remainingMicro <= 0
            ? `The budget is used up (${left} left).`
            : `Only ${left} of the budget is left; a request to "${model}" reserves up to ${formatMicroCents(reserve)} (max_tokens ${formatCount(options.defaultMaxTokens)}).`,
        ),
      );
    } else {
      steps.push({ check: 'Budget', passed: true, detail: `${left} of the budget left.` });
    }
  }

  for (const level of limits.levels) steps.push(levelStep(level, reserve, model));

  return { steps, refusal: steps.find((s) => !s.passed) ?? null };
}
