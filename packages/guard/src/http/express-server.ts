/**
 * expressServerOptions(): an Express app's requests and responses created with the app's
 * prototypes from the start, so that all of them share hidden classes and keep fast properties.
 *
 * Express 5 gives every request and response its prototype when it arrives
 * (`Object.setPrototypeOf(req, app.request)`, the same for `res`). V8 does not cache the property
 * transitions of an object whose prototype was changed: each property added to it afterwards (by
 * the router, body-parser, `res.locals`, this package's `req.apiKey`, a handler) makes a hidden
 * class of its own. Every request and response then has a class no other one has, and every
 * property read or write on them, in Node's HTTP code, Express and the app, misses V8's inline
 * caches and is looked up the slow way. Created with `app.request` and `app.response` as their
 * prototypes, Express's `setPrototypeOf` changes nothing and they share classes like any other
 * object (see README, Benchmark, for what it is worth).
 *
 *   const server = http.createServer(expressServerOptions(app), app);
 *   server.listen(3000);
 *
 * How they are created matters to V8 (each way checked with %HaveSameMap and %HasFastProperties
 * on requests held in a handler, node 20; test/unit/express-server.test.ts):
 * - a subclass, `class AppRequest extends IncomingMessage`: every object shares one class, with
 *   fast properties. Used here. Its prototype must be what Express sets, so the app's prototype
 *   objects are replaced by the subclasses' (holding the same properties, on the same chain):
 *   `app.request` and `app.response` are the subclasses' prototypes afterwards.
 * - a plain function calling `IncomingMessage.apply(this, args)`, its `.prototype` the app's: one
 *   shared class, but V8 sizes the objects for the properties that function assigns (none), so the
 *   response is a dictionary from its constructor on, and the request by the time the app sees it:
 *   every property is found by a hash lookup.
 * - `Reflect.construct(IncomingMessage, args, F)` with `F.prototype` the app's: fast properties,
 *   but a new class for every object, as without these options.
 *
 * Only the prototype changes: the objects are built by Node's own IncomingMessage and
 * ServerResponse constructors, are instances of them, and Express sees what it always saw.
 * Calling it again for the same app gives the same options.
 */
import { IncomingMessage, type ServerOptions, ServerResponse } from 'node:http';

/** What expressServerOptions needs of an Express app: the prototypes it gives requests and responses. */
export interface ExpressPrototypes {
  request: object;
  response: object;
}

/** Both constructors (Node's defaults when absent). */
export type ExpressServerOptions = Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'>;

const made = new WeakMap<ExpressPrototypes, Required<ExpressServerOptions>>();

/** Options for `http.createServer(options, app)` (or `https.createServer`) that keep `app`'s requests fast; see above. */
export function expressServerOptions(app: ExpressPrototypes): ExpressServerOptions {
  const existing = made.get(app);
  if (existing) return existing;
  class AppRequest extends IncomingMessage {}
  class AppResponse extends ServerResponse {}
  app.request = adopt(AppRequest.prototype, app.request);
  app.response = adopt(AppResponse.prototype, app.response);
  // Node's typing makes ServerResponse generic in its request type; these serve any request.
  const options = { IncomingMessage: AppRequest, ServerResponse: AppResponse as typeof ServerResponse };
  made.set(app, options);
  return options;
}

/** `target` (a subclass's prototype) made to stand for `current`: the same properties, on the same prototype chain. */
function adopt(target: object, current: object): object {
  Object.setPrototypeOf(target, Object.getPrototypeOf(current));
  for (const name of Reflect.ownKeys(current)) {
    Object.defineProperty(target, name, Object.getOwnPropertyDescriptor(current, name) as PropertyDescriptor);
  }
  return target;
}
