import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

declare module 'express-serve-static-core' {
  interface Request {
    /** Correlates a response with its log lines; echoed in the X-Request-Id header. */
    id: string;
  }
}

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Gives every request an id: the caller's X-Request-Id when it is sane, else a new UUID. */
export function requestId() {
  return function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
    const incoming = req.get('x-request-id');
    req.id = incoming && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    next();
  };
}
