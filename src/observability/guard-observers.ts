/**
 * What operators see of the API-key guards, wired around them by the app (src/routes/api.ts): the
 * guards stay a library that knows nothing of Prometheus or access logs. A guard's usage recorder
 * is teed to the metrics (outcome counts) and to the access log (which key, which refusal); the
 * guard is timed; its ledger counts budget reservations in flight.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ApiKeyRecord, LimitBackend, UsageRecorder } from '@keyward/guard';
import type { GuardVerdicts } from './guard-verdicts';
import type { GuardName, KeywardMetrics } from './metrics';

type Validate = (req: Request, key: ApiKeyRecord) => void;

/** Wrappers the app puts around each API-key guard it creates. */
export interface GuardObservers {
  /** The recorder for a guard: `usage` (when given) plus what metrics and the access log need. */
  recorder(guard: GuardName, usage?: UsageRecorder): UsageRecorder | undefined;
  /** The guard middleware, timed. */
  timed(guard: GuardName, handler: RequestHandler): RequestHandler;
  /** The limits a guard counts in, with budget reservations in flight counted. */
  limits(limits: LimitBackend): LimitBackend;
  /**
   * A guard's `validate` option, telling the access log of the refusal at once: the guard reports
   * `invalid_request` only when the response closes, after the access-log line is written.
   */
  validate(validate: Validate | undefined): Validate | undefined;
}

/** Observers feeding `metrics` and `verdicts`; either may be null (off), and with both off the guards are left as they are. */
export function guardObservers(options: { metrics: KeywardMetrics | null; verdicts: GuardVerdicts | null }): GuardObservers {
  const { metrics, verdicts } = options;
  return {
    recorder(guard, usage) {
      if (!metrics && !verdicts) return usage;
      return {
        record(event) {
          usage?.record(event);
          if (usage) metrics?.usageRecorded();
          metrics?.outcome(guard, event.outcome);
        },
        refused(event) {
          usage?.refused?.(event);
          metrics?.outcome(guard, event.outcome);
          verdicts?.note(event.requestId, { keyId: event.keyId, outcome: event.outcome });
        },
        unknownKey(attempt) {
          usage?.unknownKey?.(attempt);
          metrics?.unknownKey(guard, attempt.blocked);
        },
      };
    },

    timed(guard, handler) {
      if (!metrics) return handler;
      return function timedGuard(req: Request, res: Response, next: NextFunction) {
        const started = performance.now();
        let passed = false;
        const result = handler(req, res, (error?: unknown) => {
          passed = true;
          metrics.guardTimed(guard, error === undefined, (performance.now() - started) / 1000);
          next(error);
        });
        // The guard answered (a refusal) or the client left: it resolves without calling next.
        Promise.resolve(result).then(
          () => passed || metrics.guardTimed(guard, false, (performance.now() - started) / 1000),
          () => undefined,
        );
        return result;
      };
    },

    limits(limits) {
      return metrics ? metrics.reservations.track(limits) : limits;
    },

    validate(validate) {
      if (!verdicts || !validate) return validate;
      return (req, key) => {
        try {
          validate(req, key);
        } catch (error) {
          verdicts.note(req.id, { keyId: key.id, outcome: 'invalid_request' });
          throw error;
        }
      };
    },
  };
}
