/**
 * When a failed delivery is tried again: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h,
 * until 24 h after it was queued; then it is marked failed.
 */

/** Delays after the 1st, 2nd, ... failed attempt; the last one repeats. */
export const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000];

/** A delivery is given up this long after it was queued. */
export const DEFAULT_GIVE_UP_AFTER_MS = 24 * 3_600_000;

/** The next attempt after `attempts` failed ones, or null when it would fall past the deadline. */
export function nextAttemptAt(
  attempts: number,
  queuedAt: Date,
  now: Date,
  delays: readonly number[] = DEFAULT_RETRY_DELAYS_MS,
  giveUpAfterMs = DEFAULT_GIVE_UP_AFTER_MS,
): Date | null {
  const delay = delays[Math.min(Math.max(attempts, 1), delays.length) - 1];
  const next = new Date(now.getTime() + delay);
  return next.getTime() > queuedAt.getTime() + giveUpAfterMs ? null : next;
}
