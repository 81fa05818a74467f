import type { Logger } from 'pino';

/**
 * Logs a recurring failure at most once per interval and kind, with the number of occurrences
 * folded into that line. During an outage every request may fail the same way; the log should say
 * so once in a while, not once per request.
 */
export class ThrottledLog {
  private readonly kinds = new Map<string, { lastAt: number; folded: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `message` at error level unless `kind` was logged less than an interval ago. */
  error(kind: string, error: unknown, message: string, fields: Record<string, unknown> = {}): void {
    this.write('error', kind, error, message, fields);
  }

  /** Same, at warn level. */
  warn(kind: string, error: unknown, message: string, fields: Record<string, unknown> = {}): void {
    this.write('warn', kind, error, message, fields);
  }

  private write(level: 'error' | 'warn', kind: string, error: unknown, message: string, fields: Record<string, unknown>): void {
    const now = this.now();
    const state = this.kinds.get(kind);
    if (state && now - state.lastAt < this.intervalMs) {
      state.folded += 1;
      return;
    }
    const repeated = state?.folded ?? 0;
    this.kinds.set(kind, { lastAt: now, folded: 0 });
    this.logger[level]({ ...fields, kind, err: error, ...(repeated > 0 ? { repeated } : {}) }, message);
  }
}
