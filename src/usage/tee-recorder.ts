import type { UsageRecorder } from '@keyward/guard';

/** A recorder telling `primary` everything and `also` what it listens to (admitted usage, refusals, unknown keys). */
export function teeRecorder(primary: UsageRecorder, also: UsageRecorder): UsageRecorder {
  return {
    record(event) {
      primary.record(event);
      also.record(event);
    },
    refused(event) {
      primary.refused?.(event);
      also.refused?.(event);
    },
    unknownKey(attempt) {
      primary.unknownKey?.(attempt);
      also.unknownKey?.(attempt);
    },
  };
}
