/**
 * One POST of a signed payload: JSON, `User-Agent: Keyward-Webhooks`, a hard timeout for the whole
 * exchange, redirects never followed (a 3xx is a failed attempt), and, unless private addresses
 * are allowed, a connection only to public addresses (webhook-url.ts). The response body is read
 * and discarded (at most 64 KB) so sockets are released; it is never stored.
 */
import http from 'node:http';
import https from 'node:https';
import type { SignedHeaders } from './signature';
import { guardedLookup, urlSyntaxProblem } from './webhook-url';

/** The outcome of one attempt: the status answered, or why there was none. */
export type PostResult = { status: number } | { error: string; aborted?: boolean };

const MAX_DRAIN_BYTES = 64 * 1024;

/** POSTs `body` to `url`; never throws, never takes longer than `timeoutMs`. */
export function postWebhook(
  url: string,
  body: string,
  headers: SignedHeaders,
  options: { timeoutMs: number; allowPrivate: boolean; signal?: AbortSignal },
): Promise<PostResult> {
  const problem = urlSyntaxProblem(url, options.allowPrivate);
  if (problem) return Promise.resolve({ error: `URL refused: ${problem}` });
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'Keyward-Webhooks',
        },
        agent: false,
        ...(options.allowPrivate ? {} : { lookup: guardedLookup }),
      },
      (response) => {
        let drained = 0;
        response.on('data', (chunk: Buffer) => {
          drained += chunk.length;
          if (drained > MAX_DRAIN_BYTES) finish({ status: response.statusCode ?? 0 });
        });
        response.on('end', () => finish({ status: response.statusCode ?? 0 }));
        response.on('error', () => finish({ status: response.statusCode ?? 0 }));
      },
    );
    const timer = setTimeout(() => finish({ error: `no answer within ${options.timeoutMs} ms` }), options.timeoutMs);
    options.signal?.addEventListener('abort', () => finish({ error: 'stopped', aborted: true }), { once: true });
    request.on('error', (error: NodeJS.ErrnoException) => finish({ error: describe(error) }));
    request.end(body);
  });
}

/** A short reason without internals (no URL, no headers: nothing that could hold a secret). */
function describe(error: NodeJS.ErrnoException): string {
  if (error.code === 'EPRIVATEADDRESS') return 'the hostname resolves to a non-public address';
  if (error.code === 'ECONNREFUSED') return 'connection refused';
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return 'the hostname does not resolve';
  if (error.code === 'ECONNRESET') return 'connection reset';
  if (error.code === 'ETIMEDOUT') return 'connection timed out';
  if (error.code && /^(ERR_TLS|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(error.code)) return `TLS error (${error.code})`;
  return error.code ? `network error (${error.code})` : 'network error';
}
