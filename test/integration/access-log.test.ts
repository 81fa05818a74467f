/**
 * The access-log middleware on its own: one line per request with exactly the documented fields,
 * written when the response ends ("request completed", 5xx included, at info), or when the client
 * leaves first ("request aborted", status 0 when nothing was answered; a real socket closed
 * early), polled paths at debug, and a verdict slot that lives exactly as long as its request.
 */
import net from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createLogger } from '../../src/logger';
import { accessLog } from '../../src/observability/access-log';
import { GuardVerdicts } from '../../src/observability/guard-verdicts';
import { routePatterns } from '../../src/observability/route-pattern';
import { listen } from '../helpers/listen';
import { waitFor } from '../helpers/sse-client';

describe('the access log', () => {
  const lines: Record<string, unknown>[] = [];
  const verdicts = new GuardVerdicts();
  let server: Awaited<ReturnType<typeof listen>>;
  let seq = 0;

  beforeAll(async () => {
    const logger = createLogger('debug', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
    const app = express();
    app.use((req: Request, _res: Response, next: NextFunction) => {
      (req as { id: string }).id = `req-${++seq}`;
      next();
    });
    app.use(routePatterns(), accessLog({ logger, verdicts }));
    app.get('/items/:id', (_req, res) => void res.json({ ok: true }));
    app.get('/boom', (_req, res) => void res.status(502).json({ error: 'upstream' }));
    app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
    // Never answers: the client leaves first.
    app.get('/hang', () => undefined);
    server = await listen(app);
  });
  afterAll(async () => server.close());

  const lineOf = (requestId: string) => lines.find((l) => l.requestId === requestId);

  it('writes the documented fields once per request, at info, 5xx included, with no query string', async () => {
    await fetch(`${server.url}/items/42?token=secret-in-query`);
    await fetch(`${server.url}/boom`);
    await waitFor(async () => lines.length >= 2, 'two lines');
    const fields = { level: 30, time: expect.any(Number), app: 'keyward', method: 'GET', keyId: null, outcome: null, latencyMs: expect.any(Number), msg: 'request completed' };
    expect(lineOf('req-1')).toEqual({ ...fields, requestId: 'req-1', route: '/items/:id', path: '/items/42', status: 200 });
    expect(lineOf('req-2')).toEqual({ ...fields, requestId: 'req-2', route: '/boom', path: '/boom', status: 502 });
    expect(JSON.stringify(lines)).not.toContain('secret-in-query');
    expect(lines.filter((l) => l.requestId === 'req-1')).toHaveLength(1);
  });

  it('writes "request aborted" with status 0 when the client leaves before any answer, and frees its verdict slot', async () => {
    const before = lines.length;
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(async () => verdicts.size === 1, 'the request to be in flight');
    socket.destroy();
    await waitFor(async () => lines.length > before, 'the aborted line');
    expect(lines.at(-1)).toMatchObject({ level: 30, method: 'GET', route: '/hang', path: '/hang', status: 0, keyId: null, outcome: null, msg: 'request aborted' });
    expect(verdicts.size).toBe(0);
  });

  it('writes polled paths at debug', async () => {
    const before = lines.length;
    await fetch(`${server.url}/healthz`);
    await waitFor(async () => lines.length > before, 'the line');
    expect(lines.at(-1)).toMatchObject({ level: 20, path: '/healthz', status: 200, msg: 'request completed' });
  });
});
