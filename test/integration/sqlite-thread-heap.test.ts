/**
 * A SQLite worker thread's heap returns after a burst. The usage writer parses each batch's rows
 * (JSON text, a fold's parts of 2,500 keys) and binds them; uncapped, V8 grew its young generation
 * to the largest and kept it while the thread sat idle (the app's full GCs are not the worker's).
 * The thread's young generation is capped (YOUNG_GENERATION_MB): the same burst leaves it small.
 * (The old generation is V8's to shrink when the thread is idle; the bench's settled memory
 * reading shows the whole: see README, Benchmark.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteThread, type ThreadHeap, type ThreadStatement, YOUNG_GENERATION_MB } from '../../src/data/sqlite-thread';

const MB = 2 ** 20;

/** Rows shaped like request-log rows (13 values), in JSON parts of 2,500 as the writer gets them. */
function parts(rows: number, seed: number): string[] {
  const out: string[] = [];
  for (let start = 0; start < rows; start += 2_500) {
    const part: (string | number | null)[][] = [];
    for (let i = start; i < Math.min(rows, start + 2_500); i++) {
      const n = seed * rows + i;
      part.push([`key_${n % 20_000}`, 'tenant_1', `2026-12-02T18:00:${String(n % 60).padStart(2, '0')}.000+00:00`, 'ok', 200, `10.0.${n % 250}.${n % 200}`, 'gpt-4o-mini', null, n % 900, n % 1_000, 3, `req_${n}_${'x'.repeat(24)}`, 'openai-node/7']);
    }
    out.push(JSON.stringify(part));
  }
  return out;
}

/** The thread's heap after a burst of eight transactions of 25,000 rows each, once idle a moment. */
async function heapAfterBurst(thread: SqliteThread): Promise<ThreadHeap> {
  for (let seed = 0; seed < 8; seed++) {
    const insert: ThreadStatement = { sql: 'INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', params: [], rows: false, each: parts(25_000, seed) };
    await thread.transaction([insert]);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  return thread.heap();
}

describe('a SQLite worker thread after a burst of large writes', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-thread-heap-'));
    file = path.join(dir, 'heap.db');
    const db = new BetterSqlite3(file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE log (keyId TEXT, tenantId TEXT, at TEXT, outcome TEXT, status INTEGER, ip TEXT, model TEXT, chatbot TEXT, tokens INTEGER, cost INTEGER, latency INTEGER, requestId TEXT, userAgent TEXT)');
    db.close();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps a small heap: its young generation is capped', async () => {
    const thread = new SqliteThread({ file, readonly: false, busyMs: 5_000, name: 'test writer' });
    try {
      const heap = await heapAfterBurst(thread);
      const rows = await thread.all<{ n: number }>('SELECT COUNT(*) AS n FROM log', []);
      expect(rows[0].n).toBe(200_000);
      expect(heap.youngBytes).toBeGreaterThan(0);
      expect(heap.youngBytes).toBeLessThanOrEqual(YOUNG_GENERATION_MB * MB);
    } finally {
      await thread.close();
    }
  });

  it('(the control) grows it past the cap with V8\'s own young generation', async () => {
    const thread = new SqliteThread({ file, readonly: false, busyMs: 5_000, name: 'test writer', youngGenerationMb: null });
    try {
      const heap = await heapAfterBurst(thread);
      // 32 MB on the 24 GB machines this was written on (V8 sizes it from the machine's memory).
      expect(heap.youngBytes).toBeGreaterThan(2 * YOUNG_GENERATION_MB * MB);
    } finally {
      await thread.close();
    }
  });
});
