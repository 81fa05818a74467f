/**
 * A chat request checked and priced before the guard counts anything: the body is valid, the
 * model exists, the completion limit fits the model, and the most the request can cost is known.
 * The guard's `validate` step makes the plan (a bad request is refused with 400/404 and consumes
 * nothing), its `maxCost` reserves the plan's cost, and the route serves the plan.
 */
import type { Request } from 'express';
import type { CatalogModel } from '../config/model-catalog';
import { AppError } from '../errors';
import { type ChatRequest, parseChatRequest, requestedMaxTokens } from './chat-request';
import { nestsDeeperThan } from '../lib/storable-json';
import { costMicroCents, promptTokensUpperBound } from './pricing';

/** Deepest nesting accepted in a field of a chat body (tool schemas nest a few levels). */
const MAX_FIELD_DEPTH = 256;

export interface ChatPlan {
  request: ChatRequest;
  model: CatalogModel;
  /** Completion tokens the request may produce (asked for, or the default; enforced by providers). */
  maxTokens: number;
  /** Its upper bound of prompt tokens at the input price plus maxTokens at the output price. */
  maxCostMicroCents: number;
  /** The most tokens it can use: the prompt's upper bound plus maxTokens (reserved from token windows). */
  maxTotalTokens: number;
}

/** Checks and prices a chat body; AppError 400 `invalid_request` or 404 `model_not_found` otherwise. */
export function planChat(body: unknown, models: ReadonlyMap<string, CatalogModel>, defaultMaxTokens: number): ChatPlan {
  return planChatRequest(parseChatRequest(body), models, defaultMaxTokens);
}

/**
 * Checks and prices a chat request already validated (also one translated from another API, such
 * as the Responses API); `maxTokensField` names its completion limit in errors (default: the chat field set).
 */
export function planChatRequest(request: ChatRequest, models: ReadonlyMap<string, CatalogModel>, defaultMaxTokens: number, maxTokensField?: string): ChatPlan {
  const model = models.get(request.model);
  if (!model) {
    throw new AppError({
      status: 404,
      code: 'model_not_found',
      type: 'invalid_request_error',
      message: `The model "${request.model}" does not exist. GET /api/v1/models lists the models you can use.`,
    });
  }
  const maxTokens = requestedMaxTokens(request) ?? Math.min(defaultMaxTokens, model.maxOutputTokens);
  if (maxTokens > model.maxOutputTokens) {
    const field = maxTokensField ?? (request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens');
    throw new AppError({
      status: 400,
      code: 'invalid_request',
      type: 'invalid_request_error',
      message: `Invalid ${field}: ${model.id} produces at most ${model.maxOutputTokens} tokens.`,
      details: [{ field, message: `must be at most ${model.maxOutputTokens}` }],
    });
  }
  // Tool and format definitions are priced by their JSON text, and the body is sent on as JSON:
  // nested thousands deep (JSON.parse accepts it), serializing would overflow the stack (a 500).
  for (const [field, value] of Object.entries(request)) {
    if (nestsDeeperThan(value, MAX_FIELD_DEPTH)) {
      throw new AppError({
        status: 400,
        code: 'invalid_request',
        type: 'invalid_request_error',
        message: `Invalid ${field}: nested deeper than ${MAX_FIELD_DEPTH} levels.`,
        details: [{ field, message: `must not nest deeper than ${MAX_FIELD_DEPTH} levels` }],
      });
    }
  }
  const promptBound = promptTokensUpperBound(request);
  return { request, model, maxTokens, maxCostMicroCents: costMicroCents(model, promptBound, maxTokens), maxTotalTokens: promptBound + maxTokens };
}

const plans = new WeakMap<Request, ChatPlan>();

/**
 * Guard hooks for a route whose body is planned before anything is counted: `validate` plans the
 * request (kept in `plans` for the route), `maxTokens` and `maxCost` reserve the plan's worst case.
 */
export function plannedGuardHooks<P extends Pick<ChatPlan, 'maxTotalTokens' | 'maxCostMicroCents'>>(plans: WeakMap<Request, P>, plan: (body: unknown) => P) {
  return {
    validate(req: Request): void {
      plans.set(req, plan(req.body));
    },
    maxTokens(req: Request): number | undefined {
      return plans.get(req)?.maxTotalTokens;
    },
    maxCost(req: Request): number | undefined {
      return plans.get(req)?.maxCostMicroCents;
    },
  };
}

/** The guard hooks of the chat route. */
export function chatGuardHooks(models: ReadonlyMap<string, CatalogModel>, defaultMaxTokens: number) {
  return plannedGuardHooks(plans, (body) => planChat(body, models, defaultMaxTokens));
}

/** The plan the guard made for this request (or a new one, when the route runs without it). */
export function chatPlanOf(req: Request, models: ReadonlyMap<string, CatalogModel>, defaultMaxTokens: number): ChatPlan {
  return plans.get(req) ?? planChat(req.body, models, defaultMaxTokens);
}
