/**
 * A Responses API request checked and priced before the guard counts anything, exactly like chat:
 * it is translated to a chat request and planned by the chat plan (model exists, limit fits,
 * worst-case cost and tokens known). `responsesGuardHooks` feeds apiKeyAuth as chatGuardHooks does.
 */
import type { Request } from 'express';
import type { CatalogModel } from '../config/model-catalog';
import { type ChatPlan, planChatRequest, plannedGuardHooks } from './chat-plan';
import { parseResponsesRequest, type ResponsesRequest, toChatRequest } from './responses-request';

/** The chat plan that serves the request, with the request as the client sent it. */
export interface ResponsesPlan extends ChatPlan {
  input: ResponsesRequest;
}

/** Checks and prices a Responses body; AppError 400 `invalid_request` or 404 `model_not_found` otherwise. */
export function planResponses(body: unknown, models: ReadonlyMap<string, CatalogModel>, defaultMaxTokens: number): ResponsesPlan {
  const input = parseResponsesRequest(body);
  return { ...planChatRequest(toChatRequest(input), models, defaultMaxTokens, 'max_output_tokens'), input };
}

const plans = new WeakMap<Request, ResponsesPlan>();

/** The guard hooks of POST /responses (see plannedGuardHooks). */
export function responsesGuardHooks(models: ReadonlyMap<string, CatalogModel>, defaultMaxTokens: number) {
  return plannedGuardHooks(plans, (body) => planResponses(body, models, defaultMaxTokens));
}

/** The plan the guard made for this request (or a new one, when the route runs without it). */
export function responsesPlanOf(req: Request, models: ReadonlyMap<string, CatalogModel>, defaultMaxTokens: number): ResponsesPlan {
  return plans.get(req) ?? planResponses(req.body, models, defaultMaxTokens);
}
