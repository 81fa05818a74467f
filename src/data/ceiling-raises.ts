/**
 * The ledger's durable ceiling raises, coalesced: the raises asked for within one turn of the
 * event loop are written in one transaction (on SQLite on the writer thread, like the usage
 * batches: see write-plan.ts). A cold key with a quota or a budget needs a raise on its first
 * request of a period, so a burst of first-seen keys (a restart, a new customer base) would
 * otherwise be one write per key on the app's thread; now it is one write per tick.
 *
 * Rows are locked in key order, like the usage batches, so two instances never deadlock (see
 * planCeilingRaises). A write that fails fails every raise in it; each caller's request is then
 * refused as when its own raise fails (and the next request tries again).
 */
import type { CounterKind } from '@keyward/guard';
import type { Database } from './database';
import { planCeilingRaises } from './repositories/usage';
import { WritePlan } from './write-plan';

/** Raises written in one transaction at most. */
const MAX_RAISES_PER_WRITE = 2500;

interface PendingRaise {
  keyId: string;
  kind: CounterKind;
  periodStart: number;
  ceiling: number;
  resolve(): void;
  reject(error: unknown): void;
}

export class CeilingRaises {
  private pending: PendingRaise[] = [];
  private scheduled = false;

  constructor(private readonly database: Pick<Database, 'write' | 'sql'>) {}

  /** Resolves once the ceiling is durable (at least `ceiling` for `periodStart`). */
  raise(keyId: string, kind: CounterKind, periodStart: number, ceiling: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ keyId, kind, periodStart, ceiling, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.writePending());
      }
    });
  }

  private writePending(): void {
    const raises = this.pending;
    this.pending = [];
    this.scheduled = false;
    for (let i = 0; i < raises.length; i += MAX_RAISES_PER_WRITE) {
      const part = raises.slice(i, i + MAX_RAISES_PER_WRITE);
      const plan = new WritePlan();
      planCeilingRaises(this.database, plan, part);
      this.database.write(plan).then(
        () => {
          for (const r of part) r.resolve();
        },
        (error: unknown) => {
          for (const r of part) r.reject(error);
        },
      );
    }
  }
}
