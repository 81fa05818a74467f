import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config';

export type { Logger };

/**
 * Header and field paths that may carry secrets; pino replaces them before anything is written.
 * The `req`/`res` paths cover the standard request serializers (headers, query string) too, should
 * anything log a request with them instead of the safe serializers below.
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.query',
  'req.url',
  'res.headers["set-cookie"]',
  '*.password',
  '*.key',
  '*.secret',
];

/** Paths longer than this are cut in log lines. */
const MAX_PATH = 512;

/** The path of a request URL: no query string (its values may hold secrets), at most MAX_PATH characters. */
export function urlPath(url: string | undefined): string {
  const path = (url ?? '').split(/[?#]/, 1)[0];
  return path.length > MAX_PATH ? `${path.slice(0, MAX_PATH)}…` : path;
}

/**
 * A request in a log line: id, method and path only (never headers, cookies, query or body). Used
 * whenever something logs `{ req }`.
 */
function requestSerializer(req: IncomingMessage & { id?: unknown; originalUrl?: string }) {
  return { id: req.id, method: req.method, path: urlPath(req.originalUrl ?? req.url) };
}

/** A response in a log line: its status only (never headers such as Set-Cookie). */
function responseSerializer(res: ServerResponse) {
  return { statusCode: res.statusCode };
}

/** How createLogger() writes. */
export interface LoggerOptions {
  /** `json` (default): one JSON object per line; `pretty`: pino-pretty, for people at a terminal. */
  format?: 'json' | 'pretty';
  /** Where lines go (default: stdout). */
  destination?: DestinationStream;
}

/** The app's structured logger: JSON lines on stdout, or pino-pretty's output with `format: 'pretty'`. */
export function createLogger(level: LogLevel, options: LoggerOptions = {}): Logger {
  const settings = {
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { app: 'keyward' },
    serializers: { req: requestSerializer, res: responseSerializer, err: pino.stdSerializers.err },
  };
  if (options.format === 'pretty') {
    // A stream in this thread, not a transport: nothing to resolve at run time (dist/ and npm start
    // alike), and written synchronously, so the last lines before process.exit() are not lost.
    // Loaded only here: JSON processes (and the CLI) do not pay its 40 ms.
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    const stream = pretty({
      sync: true,
      destination: options.destination ?? 1,
      ignore: 'pid,hostname,app',
      // Access-log lines read as "request completed GET /api/v1/models 200"; their fields follow.
      messageFormat: (log, messageKey) => (typeof log.route === 'string' ? `${log[messageKey]} ${log.method} ${log.path} ${log.status}` : String(log[messageKey])),
    });
    return pino(settings, stream);
  }
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/**
 * A logger for what an operator must see once whatever LOG_LEVEL says (migrations applied at
 * start, where the first admin's credentials come from): `logger` itself at `info` or lower, else
 * a child of it at `info`.
 */
export function announcer(logger: Logger): Logger {
  return logger.isLevelEnabled('info') ? logger : logger.child({}, { level: 'info' });
}
