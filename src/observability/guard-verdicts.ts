/**
 * What the API-key guard decided about each request in flight, for its access-log line. The guard
 * tells a usage recorder (never the request), and its events carry the request id; so the
 * recorder's tee notes refusals here by request id, and the access log reads them when it writes
 * the request's line. Admitted requests need no note: `req.apiKey` names their key.
 */
import type { RequestOutcome } from '@keyward/guard';

/** A request's key and outcome as the guard saw them. */
export interface GuardVerdict {
  keyId: string;
  outcome: RequestOutcome;
}

interface Slot {
  /** Requests in flight with this id (ids may come from the client's X-Request-Id). */
  holders: number;
  /** Two requests held this id at once: no verdict for it until every one of them ended. */
  shared: boolean;
  verdict: GuardVerdict | null;
}

/**
 * Verdicts by request id, held from the request's start (begin) to its end (end). When two
 * requests in flight share an id, none of them gets a verdict: a line without a key id is better
 * than a line naming another request's key. `end` must run before the guard's own close listener
 * (register it first), so an event the guard reports after a request ended finds no slot.
 */
export class GuardVerdicts {
  private readonly inFlight = new Map<string, Slot>();

  begin(requestId: string): void {
    const slot = this.inFlight.get(requestId);
    if (slot) {
      slot.holders += 1;
      slot.shared = true;
      slot.verdict = null;
    } else {
      this.inFlight.set(requestId, { holders: 1, shared: false, verdict: null });
    }
  }

  /** Notes the guard's verdict on the request with this id (ignored for ids not in flight or shared). */
  note(requestId: string | null, verdict: GuardVerdict): void {
    if (requestId === null) return;
    const slot = this.inFlight.get(requestId);
    if (slot && !slot.shared) slot.verdict = verdict;
  }

  /** The verdict noted for this request, if any. */
  get(requestId: string): GuardVerdict | null {
    const slot = this.inFlight.get(requestId);
    return slot && !slot.shared ? slot.verdict : null;
  }

  end(requestId: string): void {
    const slot = this.inFlight.get(requestId);
    if (!slot) return;
    slot.holders -= 1;
    if (slot.holders === 0) this.inFlight.delete(requestId);
  }

  /** Requests in flight (tests: nothing is left behind). */
  get size(): number {
    return this.inFlight.size;
  }
}
