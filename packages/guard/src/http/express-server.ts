/**
 * expressServerOptions(): an Express app's requests and responses created with the app's
 * prototypes from the start, so that all of them share hidden classes.
 *
 * Express 5 gives every request and response its prototype when it arrives
 * (`Object.setPrototypeOf(req, app.request)`, the same for `res`). V8 does not cache the property
 * transitions of an object whose prototype was changed: each property added to it afterwards (by
 * the router, body-parser, `res.locals`, this package's `req.apiKey`, a handler) makes a hidden
 * class of its own. Every request and response then has a class no other one has, and every
 * property read or write on them, in Node's HTTP code, Express and the app, misses V8's inline
 * caches and is looked up the slow way. Created with `app.request` and `app.response` as their
 * prototypes, Express's `setPrototypeOf` changes nothing and they share classes like any other
 * object. Measured with `npm run bench` (one core, node 20): a bare JSON route served about 2×
 * the requests, a route behind apiKeyAuth 1.6-1.8× (see README, Benchmark).
 *
 *   const server = http.createServer(expressServerOptions(app), app);
 *   server.listen(3000);
 *
 * Only the prototype changes: the objects are built by Node's own IncomingMessage and
 * ServerResponse constructors, and Express sees what it always saw.
 */
import { IncomingMessage, type ServerOptions, ServerResponse } from 'node:http';

/** What expressServerOptions needs of an Express app: the prototypes it gives requests and responses. */
export interface ExpressPrototypes {
  request: object;
  response: object;
}

/** Both constructors, or neither (Node's defaults). */
export type ExpressServerOptions = Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'>;

/** Options for `http.createServer(options, app)` (or `https.createServer`) that keep `app`'s requests fast; see above. */
export function expressServerOptions(app: ExpressPrototypes): ExpressServerOptions {
  // Node's constructors are plain functions (as in Node 20), called on an object that already has
  // the app's prototype. Reflect.construct with another new.target would build the same object,
  // but V8 then derives a new hidden class for every one (measured): the point would be lost.
  // Were they ever classes (not callable without new), Node's defaults are kept.
  if (isClass(IncomingMessage) || isClass(ServerResponse)) return {};
  function AppRequest(this: IncomingMessage, ...args: ConstructorParameters<typeof IncomingMessage>): void {
    IncomingMessage.apply(this, args);
  }
  AppRequest.prototype = app.request;
  function AppResponse(this: ServerResponse, ...args: ConstructorParameters<typeof ServerResponse>): void {
    ServerResponse.apply(this, args);
  }
  AppResponse.prototype = app.response;
  return {
    IncomingMessage: AppRequest as unknown as typeof IncomingMessage,
    ServerResponse: AppResponse as unknown as typeof ServerResponse,
  };
}

function isClass(fn: unknown): boolean {
  return typeof fn === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}
