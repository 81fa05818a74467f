/**
 * Keeps the usage window (each key's last 30 days, see src/data/repositories/usage-window.ts) on
 * the current UTC day: rolls at start, then checks every minute; a roll runs only once the day has
 * changed. Every instance checks; the first to roll does it and the others find it current. Until
 * the roll after midnight, reports of the last 30 days sum the daily rows instead (exact, slower).
 */
import { dayStart } from '@keyward/guard';
import type { Database } from '../data/database';
import { rollUsageWindow, type WindowRoll } from '../data/repositories/usage-window';
import type { Logger } from '../logger';

export interface UsageWindowRollerOptions {
  database: Pick<Database, 'reads' | 'write' | 'provider'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  clock?: () => Date;
  /** Default a minute. */
  intervalMs?: number;
}

export class UsageWindowRoller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<WindowRoll | null> | null = null;
  /** The day this process last found the window on: no read until the day changes. */
  private current: number | null = null;

  constructor(private readonly options: UsageWindowRollerOptions) {}

  /** Rolls now, then every interval (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    const run = () => void this.rollOnce();
    this.timer = setInterval(run, this.options.intervalMs ?? 60_000);
    this.timer.unref();
    run();
  }

  /** Stops the timer and waits for a roll in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Rolls the window to today if it is not there yet (one roll at a time); null when it failed (logged). */
  rollOnce(): Promise<WindowRoll | null> {
    const today = dayStart((this.options.clock?.() ?? new Date()).getTime());
    if (this.current === today) return Promise.resolve('current');
    if (!this.running) {
      const started = performance.now();
      this.running = rollUsageWindow(this.options.database, today)
        .then((roll) => {
          this.current = today;
          if (roll === 'rolled' || roll === 'rebuilt') {
            this.options.logger.info({ roll, day: new Date(today).toISOString().slice(0, 10), ms: Math.round(performance.now() - started) }, 'usage window moved');
          }
          return roll;
        })
        .catch((error: unknown) => {
          this.options.logger.warn({ err: error }, 'moving the usage window failed; it is tried again next minute');
          return null;
        })
        .finally(() => {
          this.running = null;
        });
    }
    return this.running;
  }
}
