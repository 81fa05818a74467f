import pino, { type Logger } from 'pino';
import type { LogLevel } from './config';

export type { Logger };

/** Header and field paths that may carry secrets; pino replaces them before anything is written. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.key',
  '*.secret',
];

/** The app's structured logger (JSON lines on stdout). */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { app: 'keyward' } });
}
