import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { databaseUnavailable, databaseUnavailableReason } from '../data/errors';
import { AppError } from '../errors';
import { ThrottledLog } from '../lib/throttled-log';
import type { Logger } from '../logger';
import { SHORT_WAIT_SECONDS } from '@keyward/guard';

/** The body of every /api error: the shape the `openai` SDK reads. */
export function apiErrorBody(error: AppError) {
  return {
    error: {
      code: error.code,
      message: error.message,
      type: error.type,
      ...(error.details ? { details: error.details } : {}),
    },
  };
}

/** Errors the HTTP layer raises before any route runs (body parsing), as AppErrors. */
function fromHttpError(error: unknown): AppError | null {
  const http = error as { type?: string; status?: number; expose?: boolean; message?: string };
  if (http.type === 'entity.parse.failed') {
    return new AppError({ status: 400, code: 'invalid_json', message: 'The request body is not valid JSON.' });
  }
  if (http.type === 'entity.too.large') {
    return new AppError({ status: 413, code: 'payload_too_large', message: 'The request body is too large.' });
  }
  if (typeof http.status === 'number' && http.status >= 400 && http.status < 500 && http.expose) {
    return new AppError({ status: http.status, code: 'bad_request', message: http.message ?? 'Bad request.' });
  }
  return null;
}

/** 404 for every route nobody answered. */
export function notFoundHandler(): RequestHandler {
  return function notFound(_req, _res, next) {
    next(new AppError({ status: 404, code: 'not_found', message: 'No such route.' }));
  };
}

export interface ErrorHandlerOptions {
  logger: Logger;
  /** Renders errors for people (the dashboard); requests it declines get the JSON body. */
  renderPage?: (req: Request, error: AppError) => string | null;
}

/**
 * Turns every error into a response: AppErrors with their status and code; a database that is
 * down, silent or ending connections as 503 `database_unavailable` (logged once in a while, not
 * per request); anything else is logged with the request id and answered as a generic 500
 * without details.
 */
export function errorHandler(options: ErrorHandlerOptions): ErrorRequestHandler {
  const outages = new ThrottledLog(options.logger);
  return function handleError(error, req, res, next) {
    let appError = error instanceof AppError ? error : fromHttpError(error);
    const unavailable = appError ? null : databaseUnavailableReason(error);
    if (unavailable) {
      // The reason only (a code or driver message): a Prisma error's message can quote query arguments.
      outages.error(`database:${unavailable}`, undefined, 'database unavailable: answering 503', { reason: unavailable, path: req.path });
      appError = databaseUnavailable();
    }
    if (!appError) {
      options.logger.error({ err: error, requestId: req.id, method: req.method, path: req.path }, 'unhandled error');
      appError = new AppError({
        status: 500,
        code: 'internal_error',
        message: `Something went wrong on our side. Quote request id ${req.id} when reporting it.`,
      });
    }
    if (res.headersSent) {
      next(error);
      return;
    }
    for (const [name, value] of Object.entries(appError.headers ?? {})) res.setHeader(name, value);
    res.status(appError.status);
    const page = options.renderPage?.(req, appError);
    if (page !== undefined && page !== null) {
      res.type('html').send(page);
      return;
    }
    res.setHeader('x-should-retry', String(worthRetrying(appError)));
    res.json(apiErrorBody(appError));
  };
}

/**
 * `x-should-retry` for API errors (the openai SDK obeys it before its own rules, which would
 * retry a 409 three times): our side failing or unavailable, yes; a bad or conflicting request,
 * no; a 429 only when its Retry-After is short (as deny() decides for the guard's refusals).
 */
function worthRetrying(error: AppError): boolean {
  if (error.status >= 500) return true;
  if (error.status !== 429) return false;
  const retryAfter = Number(error.headers?.['Retry-After']);
  return Number.isFinite(retryAfter) && retryAfter <= SHORT_WAIT_SECONDS;
}
