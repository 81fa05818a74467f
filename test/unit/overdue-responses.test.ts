import v8 from 'node:v8';
import vm from 'node:vm';
import type { Response } from 'express';
import { OverdueResponses } from '../../packages/guard/src/middleware/overdue-responses';

interface FakeResponse {
  writableEnded: boolean;
  destroy: jest.Mock;
}

const response = (writableEnded = false): FakeResponse => ({ writableEnded, destroy: jest.fn() });
const asResponse = (res: FakeResponse) => res as unknown as Response;

describe('OverdueResponses', () => {
  afterEach(() => jest.useRealTimers());

  it('destroys, once a second, the tracked responses past their deadline that have not ended', () => {
    jest.useFakeTimers();
    let clock = 0;
    const overdue = new OverdueResponses(() => clock);
    const late = response();
    const ended = response(true);
    const onTime = response();
    const forgotten = response();
    overdue.track(asResponse(late), 500);
    overdue.track(asResponse(ended), 500);
    overdue.track(asResponse(onTime), 5_000);
    const entry = overdue.track(asResponse(forgotten), 500);
    overdue.forget(entry);
    expect(overdue.size).toBe(3);

    clock = 1_000;
    jest.advanceTimersByTime(1_000);
    expect(late.destroy).toHaveBeenCalledTimes(1);
    expect(ended.destroy).not.toHaveBeenCalled();
    expect(onTime.destroy).not.toHaveBeenCalled();
    expect(forgotten.destroy).not.toHaveBeenCalled();

    clock = 6_000;
    jest.advanceTimersByTime(1_000);
    expect(onTime.destroy).toHaveBeenCalledTimes(1);
  });

  it('forgets each entry once, wherever it is in the list, and keeps sweeping when a destroy forgets at once', () => {
    jest.useFakeTimers();
    const overdue = new OverdueResponses(() => 10_000);
    const responses = Array.from({ length: 5 }, () => response());
    const entries = responses.map((res) => overdue.track(asResponse(res), 0));
    // A close handled inside destroy(): the entry is unlinked while the sweep stands on it.
    responses[2].destroy.mockImplementation(() => overdue.forget(entries[2]));
    overdue.forget(entries[4]); // the first in the list
    overdue.forget(entries[0]); // the last
    overdue.forget(entries[0]); // again: nothing changes
    expect(overdue.size).toBe(3);

    jest.advanceTimersByTime(1_000);
    expect(responses.map((res) => res.destroy.mock.calls.length)).toEqual([0, 1, 1, 1, 0]);
    expect(overdue.size).toBe(2);
    for (const entry of entries) overdue.forget(entry);
    expect(overdue.size).toBe(0);
    // A forgotten entry points at nothing: a dead entry cannot keep a request alive.
    expect(entries.every((entry) => entry.res === null && entry.prev === null && entry.next === null)).toBe(true);
  });

  it('does not make young-generation GCs keep forgotten responses (they were promoted, dead, with a Map)', () => {
    // What matters is what V8 does with the structure once it is in the old generation, as it is
    // in a server that has run for a while: 32 responses in flight, each forgotten as another comes.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const overdue = new OverdueResponses(() => 0);
    const noop = () => undefined;
    const first = overdue.track({ writableEnded: false, destroy: noop } as unknown as Response, Number.MAX_SAFE_INTEGER);
    gc();
    gc();
    const IN_FLIGHT = 32;
    const REQUESTS = 60_000;
    const inFlight: ({ entry: ReturnType<OverdueResponses['track']> } | null)[] = new Array(IN_FLIGHT).fill(null);
    const profiler = new v8.GCProfiler();
    profiler.start();
    for (let i = 0; i < REQUESTS; i++) {
      const slot = i % IN_FLIGHT;
      const done = inFlight[slot];
      if (done) overdue.forget(done.entry);
      // About 1.5 KB of objects per request, reachable only from its response.
      // Plain objects only: jest.fn() registers each mock in jest's own maps.
      const res = { writableEnded: false, destroy: noop, payload: Array.from({ length: 32 }, (_, n) => ({ n })) };
      inFlight[slot] = { entry: overdue.track(res as unknown as Response, Number.MAX_SAFE_INTEGER) };
    }
    const { statistics } = profiler.stop();
    for (const slot of inFlight) if (slot) overdue.forget(slot.entry);
    overdue.forget(first);

    const oldSpace = (heap: { heapSpaceStatistics: { spaceName: string; spaceUsedSize: number }[] }) =>
      heap.heapSpaceStatistics.find((space) => space.spaceName === 'old_space')?.spaceUsedSize ?? 0;
    const scavenges = statistics.filter((entry) => entry.gcType === 'Scavenge');
    const promoted = scavenges.reduce((sum, entry) => sum + Math.max(0, oldSpace(entry.afterGC) - oldSpace(entry.beforeGC)), 0);
    // The requests' objects add up to about 90 MB. Kept in a Map, 13 MB of them were promoted in
    // this loop (5-6 young GCs); the list promotes about 2.5 KB.
    expect(promoted).toBeLessThan(1024 * 1024);
    expect(scavenges.length).toBeGreaterThan(2);
    expect(overdue.size).toBe(0);
  });
});
