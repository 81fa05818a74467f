import type { Request, Response } from 'express';
import type { ApiKeyRecord } from '../keys/key-types';
import type { RequestFacts } from '../usage/usage-types';

const MAX_USER_AGENT = 256;
/** Longest model, chatbot and request id kept (they come from the client). */
const MAX_NAME = 200;
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Client-supplied text as every store keeps it: NUL characters removed and unpaired surrogates
 * replaced (PostgreSQL refuses both; one such row would fail every usage batch it is in), at most
 * `max` characters.
 */
function storable(text: string | undefined, max: number): string | null {
  if (text === undefined) return null;
  const clipped = text.length > max ? text.slice(0, max) : text;
  return clipped.replace(/\u0000/g, '').replace(UNPAIRED_SURROGATE, '\uFFFD');
}

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
      model: storable(this.model(req), MAX_NAME),
      chatbot: storable(this.chatbot(req), MAX_NAME),
      latencyMs: Math.max(0, at - this.startedAt),
      requestId: typeof requestId === 'string' ? storable(requestId, MAX_NAME) : null,
      userAgent: typeof userAgent === 'string' ? storable(userAgent, MAX_USER_AGENT) : null,
    };
  }
}
