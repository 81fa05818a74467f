import type { LimitBackend, LimitLedger, Reservation } from '@keyward/guard';

/**
 * Budget reservations held by responses in progress: the guard reserves a request's most
 * expensive outcome before its handler runs and settles it when the response closes (or releases
 * it at once when a later check refuses). Counted in the app, around the ledger the guard is given,
 * so it works alike for the in-process and the Redis ledger.
 */
export class ReservationsInFlight {
  /** Budget reservations not settled yet. */
  count = 0;
  /** What they hold, in micro-cents. */
  microCents = 0;

  /** `limits` whose ledger counts its budget reservations here. */
  track(limits: LimitBackend): LimitBackend {
    const ledger = limits.ledger;
    const counted: LimitLedger = {
      reserve: (request) =>
        ledger.reserve(request).then((result) => {
          if (result.ok) this.held(result.reservation, 1);
          return result;
        }),
      reserveAll: (requests) =>
        ledger.reserveAll(requests).then((result) => {
          if (result.ok) for (const r of result.reservations) this.held(r, 1);
          return result;
        }),
      settle: (reservation, used) => {
        // Settled from the request's side even when the store fails to confirm it (Redis retries it).
        this.held(reservation, -1);
        return ledger.settle(reservation, used);
      },
      settleAll: (settlements) => {
        for (const s of settlements) this.held(s.reservation, -1);
        return ledger.settleAll(settlements);
      },
      usage: (keyId, kind, periodStart, baseline) => ledger.usage(keyId, kind, periodStart, baseline),
      reset: (keyId) => ledger.reset(keyId),
      close: () => ledger.close(),
    };
    // A ledger in this process answers without promises; so does its counted view.
    const reserveAllNow = ledger.reserveAllNow?.bind(ledger);
    const settleAllNow = ledger.settleAllNow?.bind(ledger);
    if (reserveAllNow && settleAllNow) {
      counted.reserveAllNow = (requests) => {
        const result = reserveAllNow(requests);
        if (result?.ok) for (const r of result.reservations) this.held(r, 1);
        return result;
      };
      counted.settleAllNow = (settlements) => {
        for (const s of settlements) this.held(s.reservation, -1);
        settleAllNow(settlements);
      };
    }
    const admit = limits.admit?.bind(limits);
    if (admit) {
      const tracked: NonNullable<LimitBackend['admit']> = (keyId, rateLimits, requests) =>
        admit(keyId, rateLimits, requests).then((answer) => {
          if (answer.result?.ok) for (const r of answer.result.reservations) this.held(r, 1);
          return answer;
        });
      return { ...limits, ledger: counted, admit: tracked };
    }
    return { ...limits, ledger: counted };
  }

  /** Counts a key's budget reservation in (+1) or out (-1); other counters are not money. */
  private held(reservation: Reservation, sign: 1 | -1): void {
    if (reservation.kind !== 'budget' || reservation.keyId.includes(':')) return;
    this.count += sign;
    this.microCents += sign * reservation.amount;
  }
}
