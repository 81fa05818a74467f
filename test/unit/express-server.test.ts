import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import { expressServerOptions } from '@keyward/guard';
import { listen } from '../helpers/listen';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const HIDDEN_CLASSES_APP = path.join(ROOT, 'test', 'helpers', 'hidden-classes-app.js');

/** Whether two requests held in the handler at once share V8's hidden class, and keep fast properties (see the helper app). */
async function sharedClasses(stable: boolean): Promise<{ req: boolean; res: boolean; fast: boolean }> {
  const { stdout } = await run(process.execPath, ['--allow-natives-syntax', HIDDEN_CLASSES_APP], {
    cwd: ROOT,
    env: { ...process.env, STABLE: stable ? '1' : '0' },
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim()) as { req: boolean; res: boolean; fast: boolean };
}

describe('expressServerOptions', () => {
  it("gives requests and responses the app's prototypes when Node builds them, and Express serves them as always", async () => {
    const app = express();
    app.set('trust proxy', false);
    app.use(express.json());
    const seen: { requestProto: boolean; responseProto: boolean; isIncoming: boolean; isResponse: boolean }[] = [];
    app.use((req, res, next) => {
      seen.push({
        requestProto: Object.getPrototypeOf(req) === app.request,
        responseProto: Object.getPrototypeOf(res) === app.response,
        isIncoming: req instanceof http.IncomingMessage,
        isResponse: res instanceof http.ServerResponse,
      });
      next();
    });
    app.post('/echo/:name', (req, res) => {
      res.set('X-Name', req.params.name);
      res.status(201).json({ body: req.body as unknown, query: req.query, ip: req.ip, app: req.app === app, path: req.path });
    });
    app.get('/stream', (_req, res) => {
      res.write('a');
      res.end('b');
    });
    const server = await listen(app);
    try {
      const posted = await fetch(`${server.url}/echo/x?q=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m"}' });
      expect(posted.status).toBe(201);
      expect(posted.headers.get('x-name')).toBe('x');
      expect(await posted.json()).toEqual({ body: { model: 'm' }, query: { q: '1' }, ip: '127.0.0.1', app: true, path: '/echo/x' });
      const streamed = await fetch(`${server.url}/stream`);
      expect(await streamed.text()).toBe('ab');
      const missing = await fetch(`${server.url}/nowhere`);
      expect(missing.status).toBe(404);
      expect(seen).toHaveLength(3);
      for (const s of seen) expect(s).toEqual({ requestProto: true, responseProto: true, isIncoming: true, isResponse: true });
    } finally {
      await server.close();
    }
  });

  it('makes all requests share one hidden class with fast properties (each has its own without it)', async () => {
    // The control first: as app.listen serves, Express's setPrototypeOf leaves every req and res a
    // class of its own (what this option is for; were that to change in V8, the option is moot).
    expect(await sharedClasses(false)).toEqual({ req: false, res: false, fast: true });
    // Shared, and not dictionaries: built by a function that only calls Node's constructor on
    // `this`, they shared a class but were dictionaries by the time the handler ran.
    expect(await sharedClasses(true)).toEqual({ req: true, res: true, fast: true });
  }, 60_000);

  it('gives the same options when called again for the same app, and another app its own', () => {
    const app = express();
    app.get('/', (_req, res) => void res.send('ok'));
    const first = expressServerOptions(app);
    const request = app.request;
    expect(expressServerOptions(app)).toBe(first);
    expect(app.request).toBe(request);
    expect(first.IncomingMessage?.prototype).toBe(app.request);
    expect(first.ServerResponse?.prototype).toBe(app.response);
    const other = express();
    expect(expressServerOptions(other).IncomingMessage).not.toBe(first.IncomingMessage);
  });

  it("keeps what the app put on app.request and app.response, on Express's prototype chain", async () => {
    const app = express();
    const before = Object.getPrototypeOf(app.request) as object;
    Object.defineProperty(app.request, 'tenant', { get() { return 'from-getter'; }, configurable: true });
    (app.response as unknown as { hello: () => void }).hello = function (this: express.Response) {
      this.type('text').send('hi');
    };
    app.get('/', (req, res) => {
      res.set('X-Tenant', (req as unknown as { tenant: string }).tenant);
      (res as unknown as { hello: () => void }).hello();
    });
    expressServerOptions(app);
    expect(Object.getPrototypeOf(app.request)).toBe(before);
    // listen() serves with expressServerOptions(app) again: the same options.
    const server = await listen(app);
    try {
      const got = await fetch(`${server.url}/`);
      expect(got.headers.get('x-tenant')).toBe('from-getter');
      expect(await got.text()).toBe('hi');
    } finally {
      await server.close();
    }
  });
});
