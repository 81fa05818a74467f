/** WriteTimes (src/usage/write-times.ts): a value is due once per period per id, and memory stays bounded. */
import { WriteTimes } from '../../src/usage/write-times';

describe('WriteTimes', () => {
  it('makes a value due when never written or written a period before', () => {
    const times = new WriteTimes(60_000);
    expect(times.due('a', 0)).toBe(true);
    times.wrote('a', 1_000);
    times.forgetStale();
    expect(times.due('a', 60_999)).toBe(false);
    expect(times.due('a', 61_000)).toBe(true);
    expect(times.due('b', 61_000)).toBe(true);
  });

  it('forgets ids written more than a period before the latest write', () => {
    const times = new WriteTimes(60_000);
    times.wrote('old', 0);
    times.wrote('kept', 30_000);
    times.forgetStale();
    times.wrote('new', 70_000);
    times.forgetStale();
    // 'old' is forgotten (due even at a time its entry would have suppressed), 'kept' is not.
    expect(times.due('old', 1)).toBe(true);
    expect(times.due('kept', 30_001)).toBe(false);
  });

  it('keeps at most its bound, the oldest written forgotten first', () => {
    const times = new WriteTimes(60_000, 2);
    times.wrote('a', 0);
    times.wrote('b', 1);
    times.wrote('a', 2);
    times.wrote('c', 3);
    times.forgetStale();
    // 'b' is now the oldest write: forgotten; 'a' (written again) and 'c' stay.
    expect(times.due('b', 4)).toBe(true);
    expect(times.due('a', 4)).toBe(false);
    expect(times.due('c', 4)).toBe(false);
  });
});
