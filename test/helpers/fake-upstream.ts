/**
 * An OpenAI-compatible upstream that meters what it serves, as a provider bills it: the prompt of
 * every request it started answering, and each completion token it produced (streamed tokens as
 * they are written). It also sees when Keyward aborts a call (the client went away).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeUpstreamOptions {
  /** Prices of the model, cents per million tokens (as in the catalog). */
  inputCentsPerMillion: number;
  outputCentsPerMillion: number;
  /** Prompt tokens billed per request. */
  promptTokens: number;
  /** Completion tokens produced per request (capped by the request's max_tokens). */
  completionTokens: number;
  /** Delay before answering a non-streamed request, and between streamed tokens (ms). */
  delayMs: number;
}

export interface FakeUpstream {
  url: string;
  /** Requests received, requests whose connection Keyward closed before the answer ended. */
  stats(): { received: number; aborted: number; servedMicroCents: number; servedTokens: number };
  /** The catalog entry of a model served by this upstream. */
  catalogModel(id: string): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startFakeUpstream(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  let received = 0;
  let aborted = 0;
  let servedMicroCents = 0;
  let servedTokens = 0;
  const bill = (prompt: number, completion: number) => {
    servedTokens += prompt + completion;
    servedMicroCents += prompt * options.inputCentsPerMillion + completion * options.outputCentsPerMillion;
  };

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      received += 1;
      const body = JSON.parse(raw) as { stream?: boolean; max_tokens?: number };
      const completion = Math.min(options.completionTokens, body.max_tokens ?? options.completionTokens);
      let done = false;
      res.on('close', () => {
        if (!done) aborted += 1;
      });
      const base = { id: 'chatcmpl-fake', created: 1, model: 'fake' };
      if (!body.stream) {
        const timer = setTimeout(() => {
          if (res.destroyed) return;
          bill(options.promptTokens, completion);
          done = true;
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({
              ...base,
              object: 'chat.completion',
              choices: [{ index: 0, message: { role: 'assistant', content: 'x '.repeat(completion).trim() }, finish_reason: 'stop' }],
              usage: { prompt_tokens: options.promptTokens, completion_tokens: completion, total_tokens: options.promptTokens + completion },
            }),
          );
        }, options.delayMs);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      res.setHeader('content-type', 'text/event-stream');
      bill(options.promptTokens, 0);
      let sent = 0;
      const tick = () => {
        if (res.destroyed) return;
        if (sent < completion) {
          sent += 1;
          bill(0, 1);
          res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'x ' }, finish_reason: null }] })}\n\n`);
          setTimeout(tick, options.delayMs);
          return;
        }
        done = true;
        res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
        const usage = { prompt_tokens: options.promptTokens, completion_tokens: sent, total_tokens: options.promptTokens + sent };
        res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
        res.end('data: [DONE]\n\n');
      };
      tick();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/v1`;
  return {
    url,
    stats: () => ({ received, aborted, servedMicroCents, servedTokens }),
    catalogModel: (id) => ({
      id,
      ownedBy: 'fake',
      created: 1,
      inputCentsPerMillion: options.inputCentsPerMillion,
      outputCentsPerMillion: options.outputCentsPerMillion,
      maxOutputTokens: 4096,
      upstream: { baseUrl: url, model: 'fake' },
    }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Sends a complete HTTP request on a raw socket and closes the connection `closeAfterMs` later,
 * without reading the answer (the way an impatient or hostile client leaves). `reset` destroys the
 * socket (RST-like) instead of ending it (FIN).
 */
export function sendAndLeave(
  port: number,
  request: { method: string; path: string; headers: Record<string, string>; body?: string },
  closeAfter: number | (() => Promise<unknown>),
  reset = false,
): Promise<void> {
  const net = require('node:net') as typeof import('node:net');
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      const body = request.body ?? '';
      const head = [`${request.method} ${request.path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${Buffer.byteLength(body)}`];
      for (const [name, value] of Object.entries(request.headers)) head.push(`${name}: ${value}`);
      socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
      const leave = () => {
        if (reset) socket.destroy();
        else socket.end();
      };
      if (typeof closeAfter === 'number') setTimeout(leave, closeAfter);
      else void closeAfter().then(leave);
    });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}
