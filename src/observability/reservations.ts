import type { LimitLedger } from '../limits/ledger';
import type { LimitBackend } from '../limits/limits';

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
          if (result.ok && request.kind === 'budget') {
            this.count += 1;
            this.microCents += request.amount;
          }
          return result;
        }),
      settle: (reservation, used) => {
        // Settled from the request's side even when the store fails to confirm it (Redis retries it).
        if (reservation.kind === 'budget') {
          this.count -= 1;
          this.microCents -= reservation.amount;
        }
        return ledger.settle(reservation, used);
      },
      usage: (keyId, kind, periodStart, baseline) => ledger.usage(keyId, kind, periodStart, baseline),
      reset: (keyId) => ledger.reset(keyId),
      close: () => ledger.close(),
    };
    return { ...limits, ledger: counted };
  }
}
