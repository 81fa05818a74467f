import express, { type NextFunction, type Request, type Response } from 'express';
import { routeOf, routePatterns, UNMATCHED } from '../../src/observability/route-pattern';
import { listen } from '../helpers/listen';

describe('routePatterns', () => {
  it('records the full pattern at the match, through nested routers and errors, without an accessor on each request', async () => {
    const app = express();
    // Before the middleware: a route it never sees.
    const outside: string[] = [];
    app.get('/outside/:id', (req, res) => {
      outside.push(routeOf(req));
      res.end();
    });
    app.use(routePatterns());
    const seen: { route: string; ownRoute: PropertyDescriptor | undefined; routePath: unknown }[] = [];
    const inner = express.Router();
    inner.get('/:id', (req, res) => {
      seen.push({ route: routeOf(req), ownRoute: Object.getOwnPropertyDescriptor(req, 'route'), routePath: (req.route as { path: string }).path });
      res.json({ ok: true });
    });
    inner.get('/:id/boom', () => {
      throw new Error('boom');
    });
    const outer = express.Router();
    outer.use('/Keys', inner);
    outer.use((_req, res) => void res.status(401).end());
    app.use('/api/v1', outer);
    const errors: string[] = [];
    app.use((err: Error, req: Request, res: Response, _next: NextFunction) => {
      errors.push(`${routeOf(req)} ${err.message}`);
      res.status(500).end();
    });
    const finals: string[] = [];
    const tail = express();
    tail.use((req, res) => {
      finals.push(routeOf(req));
      res.status(404).end();
    });
    app.use(tail);

    const server = await listen(app);
    try {
      expect((await fetch(`${server.url}/api/v1/keys/AbC123`)).status).toBe(200);
      expect((await fetch(`${server.url}/API/V1/KEYS/x`)).status).toBe(200);
      expect((await fetch(`${server.url}/api/v1/keys/x/boom`)).status).toBe(500);
      expect((await fetch(`${server.url}/api/v1/other`)).status).toBe(401);
      expect((await fetch(`${server.url}/nowhere`)).status).toBe(404);
      expect((await fetch(`${server.url}/outside/1`)).status).toBe(200);
    } finally {
      await server.close();
    }
    // `req.route` still reads as Express documents it, and no request carries an accessor of its own.
    expect(seen).toEqual([
      { route: '/api/v1/keys/:id', ownRoute: undefined, routePath: '/:id' },
      { route: '/api/v1/keys/:id', ownRoute: undefined, routePath: '/:id' },
    ]);
    expect(errors).toEqual(['/api/v1/keys/:id/boom boom']);
    expect(finals).toEqual([UNMATCHED]);
    // A request the middleware did not see keeps no pattern, even though its prototype now has the accessor.
    expect(outside).toEqual([UNMATCHED]);
  });
});
