import type { Request, Response } from 'express';
import type { ApiKeyRecord } from '../keys/key-types';
import type { RequestFacts } from '../usage/usage-types';

const MAX_USER_AGENT = 256;

/**
 * One request as the guard sees it: the client address, when the guard started, and the key once
 * it is identified. It knows what a usage recorder is told about the request (never the key or a
 * body); the model and chatbot are read only when something is recorded.
 */
export class Attempt {
  key: ApiKeyRecord | null = null;

  constructor(
    readonly req: Request,
    readonly res: Response,
    readonly ip: string,
    readonly startedAt: number,
    private readonly model: (req: Request) => string | undefined,
    private readonly chatbot: (req: Request) => string | undefined,
  ) {}

  /** The facts of this request of `key`, ended at `at` with `status`. */
  facts(key: ApiKeyRecord, at: number, status: number): RequestFacts {
    const req = this.req;
    const userAgent = req.headers['user-agent'];
    const requestId = (req as { id?: unknown }).id;
    return {
      keyId: key.id,
      tenantId: key.tenantId,
      at,
      status,
      ip: this.ip,
      model: this.model(req) ?? null,
      chatbot: this.chatbot(req) ?? null,
      latencyMs: Math.max(0, at - this.startedAt),
      requestId: typeof requestId === 'string' ? requestId : null,
      userAgent: typeof userAgent === 'string' ? userAgent.slice(0, MAX_USER_AGENT) : null,
    };
  }
}
