import type { KeyChangeRow } from '../../src/data/repositories/key-changes';
import { KeyChangeFeed, type KeyChangeSource } from '../../src/keys/key-change-feed';
import { KeyChangeInbox } from '../../src/keys/key-change-inbox';
import type { KeyChange } from '../../packages/guard/src/keys/key-events';
import { createLogger } from '../../src/logger';

/** key_changes in memory; `failing` makes every read throw, like a database that is down. */
class MemorySource implements KeyChangeSource {
  rows: (KeyChangeRow & { createdAt: number })[] = [];
  failing = false;
  reads = 0;
  private nextId = 1;

  add(change: Partial<KeyChangeRow> & { origin: string }, createdAt = Date.now()): number {
    const id = this.nextId++;
    this.rows.push({ id, keyId: `key${id}`, tenantId: 't1', kind: 'revoked', createdAt, ...change });
    return id;
  }

  async latestId() {
    this.check();
    return this.rows.at(-1)?.id ?? 0;
  }

  async after(id: number, limit: number) {
    this.check();
    this.reads += 1;
    return this.rows.filter((r) => r.id > id).slice(0, limit);
  }

  async pruneBefore(cutoff: Date) {
    this.check();
    const before = this.rows.length;
    this.rows = this.rows.filter((r) => r.createdAt >= cutoff.getTime());
    return before - this.rows.length;
  }

  private check() {
    if (this.failing) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
  }
}

function setup(options: { now?: () => number } = {}) {
  const source = new MemorySource();
  const inbox = new KeyChangeInbox();
  const delivered: KeyChange[] = [];
  inbox.bus.subscribe((change) => delivered.push(change));
  const logged: unknown[] = [];
  const logger = createLogger('silent');
  logger.error = ((...args: unknown[]) => logged.push(args)) as typeof logger.error;
  const feed = new KeyChangeFeed({ source, inbox, pollMs: 10, retentionMs: 60_000, logger, ...options });
  return { source, inbox, delivered, logged, feed };
}

const other = 'another-process';

describe('key-change feed and inbox', () => {
  it('starts after the newest change, then delivers other processes’ changes as remote, in id order', async () => {
    const { source, feed, delivered } = setup();
    source.add({ origin: other });
    expect(await feed.poll()).toBe(true);
    expect(delivered).toEqual([]);
    const first = source.add({ origin: other, kind: 'revoked' });
    const second = source.add({ origin: other, kind: 'updated', keyId: 'k2' });
    await feed.poll();
    expect(delivered).toEqual([
      { keyId: `key${first}`, tenantId: 't1', kind: 'revoked', changeId: first, remote: true },
      { keyId: 'k2', tenantId: 't1', kind: 'updated', changeId: second, remote: true },
    ]);
    await feed.poll();
    expect(delivered).toHaveLength(2);
  });

  it('does not re-apply a change this process made itself', async () => {
    const { source, feed, inbox, delivered } = setup();
    await feed.poll();
    source.add({ origin: inbox.origin });
    await feed.poll();
    expect(delivered).toEqual([]);
    expect(inbox.cursor).toBe(1);
  });

  it('applies a change once when Redis brings it before the feed, and when the feed brings it first', async () => {
    const { source, feed, inbox, delivered } = setup();
    await feed.poll();
    const early = source.add({ origin: other, kind: 'usage_reset', keyId: 'k1' });
    inbox.fromBroadcast({ keyId: 'k1', tenantId: 't1', kind: 'usage_reset', changeId: early });
    inbox.fromBroadcast({ keyId: 'k1', tenantId: 't1', kind: 'usage_reset', changeId: early });
    await feed.poll();
    const late = source.add({ origin: other, kind: 'usage_reset', keyId: 'k2' });
    await feed.poll();
    inbox.fromBroadcast({ keyId: 'k2', tenantId: 't1', kind: 'usage_reset', changeId: late });
    expect(delivered.map((c) => [c.keyId, c.changeId, c.remote])).toEqual([
      ['k1', early, true],
      ['k2', late, true],
    ]);
  });

  it('delivers Redis messages that carry no change id (older versions) as they come', () => {
    const { inbox, delivered } = setup();
    inbox.fromBroadcast({ keyId: 'k1', tenantId: 't1', kind: 'revoked' });
    inbox.fromBroadcast({ keyId: 'k1', tenantId: 't1', kind: 'revoked' });
    expect(delivered).toHaveLength(2);
  });

  it('a failed poll does not throw, is logged once per interval, and the next poll catches up', async () => {
    const { source, feed, delivered, logged } = setup();
    await feed.poll();
    const missed = source.add({ origin: other });
    source.failing = true;
    expect(await feed.poll()).toBe(false);
    expect(await feed.poll()).toBe(false);
    expect(logged).toHaveLength(1);
    const during = source.add({ origin: other });
    source.failing = false;
    expect(await feed.poll()).toBe(true);
    expect(delivered.map((c) => c.changeId)).toEqual([missed, during]);
  });

  it('reads a backlog larger than one batch in one poll', async () => {
    const { source, feed, delivered } = setup();
    await feed.poll();
    for (let i = 0; i < 1234; i += 1) source.add({ origin: other });
    await feed.poll();
    expect(delivered).toHaveLength(1234);
    expect(new Set(delivered.map((c) => c.changeId)).size).toBe(1234);
  });

  it('prunes rows past the retention, at most once per prune interval', async () => {
    let now = 1_000_000_000;
    const { source, feed } = setup({ now: () => now });
    source.add({ origin: other }, now - 120_000);
    source.add({ origin: other }, now - 1_000);
    await feed.poll();
    expect(source.rows).toHaveLength(1);
    source.add({ origin: other }, now - 120_000);
    now += 60_000;
    await feed.poll();
    expect(source.rows).toHaveLength(2);
    now += 5 * 60_000;
    await feed.poll();
    expect(source.rows).toHaveLength(0);
  });

  it('polls on its own every pollMs once started, and stop() ends it', async () => {
    const { source, feed, delivered } = setup();
    feed.start();
    await feed.ready();
    source.add({ origin: other });
    const deadline = Date.now() + 2000;
    while (delivered.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(delivered).toHaveLength(1);
    await feed.stop();
    const reads = source.reads;
    source.add({ origin: other });
    await new Promise((r) => setTimeout(r, 50));
    expect(source.reads).toBe(reads);
    expect(delivered).toHaveLength(1);
  });
});
