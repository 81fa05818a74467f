/**
 * A better-sqlite3 connection on a worker thread of its own. better-sqlite3 runs every statement
 * on the thread that calls it, so a statement on the app's thread is time in which no request is
 * served; on a worker it is not. Two are used (see list-reads.ts and sqlite-writer.ts): a
 * read-only one for list and report reads, and a read-write one for the usage batches. WAL mode
 * (set by the migrations) lets readers and the one writer run side by side.
 *
 * The worker answers one message at a time, in order:
 * - `{ id, sql, params }`: the rows of one statement;
 * - `{ id, sql, params, join }`: the first column of its rows, joined by `join` into one text;
 * - `{ id, statements }`: runs the statements in one transaction (BEGIN IMMEDIATE: the write lock
 *   is taken first, waiting up to the busy timeout) and answers the rows of those that ask for
 *   them. It either commits all of them or none. A statement with `each` runs once per row;
 * - `{ id, heap: true }`: its isolate's heap figures (the process's own leave a worker out);
 * - `{ id, statementCpu: true }`: with the statementCpu option, the thread's CPU time spent in each
 *   statement (by its SQL text) since the last time it was asked, and in BEGIN and COMMIT.
 *
 * Its young generation is capped (YOUNG_GENERATION_MB), so that its heap returns after a burst.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { databaseUnavailable, UNEXPECTED_CHANGES } from './errors';

/** A value bound to a statement: what better-sqlite3 takes (times already in their stored text). */
export type BoundValue = string | number | bigint | null | Buffer;

/**
 * One statement of a transaction; `rows: true` asks for the rows it returns (RETURNING). With
 * `each` (rows of values, or their JSON text, in parts), the statement runs once per row, bound to it
 * (`params` unused), and the rows all its runs return are answered together; with `numbered`,
 * a row's values are bound to ?1, ?2, ... (a value may then be used more than once).
 */
export interface ThreadStatement {
  sql: string;
  params: BoundValue[];
  rows: boolean;
  /** The rows, in parts: each a list of rows or its JSON text (parsed one at a time). */
  each?: (BoundValue[][] | string)[];
  numbered?: boolean;
  /** The rows the statement must change, else the transaction rolls back (WritePlan.executeExpecting). */
  expect?: number;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { readonly: workerData.readonly, fileMustExist: true, timeout: workerData.busyMs });
for (const pragma of workerData.pragmas) db.pragma(pragma);
const statements = new Map();
// A statement read for its first column only (pluck) is another statement: better-sqlite3 keeps the mode on it.
function prepared(sql, pluck = false) {
  const key = pluck ? 'pluck ' + sql : sql;
  let statement = statements.get(key);
  if (!statement) {
    statement = db.prepare(sql);
    if (pluck) statement.pluck();
    statements.set(key, statement);
    if (statements.size > 200) statements.delete(statements.keys().next().value);
  }
  return statement;
}
// better-sqlite3 binds ?1, ?2, ... from an object keyed by their numbers.
function byNumber(values) {
  const named = {};
  for (let i = 0; i < values.length; i++) named[i + 1] = values[i];
  return named;
}
// Rows bound by runEach so far (statementCpu counts them per statement).
let boundRows = 0;
function runEach(statement, parts, rows, numbered) {
  const bind = numbered ? byNumber : (values) => values;
  const returned = rows ? [] : null;
  for (const part of parts) {
    const list = typeof part === 'string' ? JSON.parse(part) : part;
    boundRows += list.length;
    if (!rows) for (const params of list) statement.run(bind(params));
    else for (const params of list) for (const row of statement.all(bind(params))) returned.push(row);
  }
  return returned;
}
function runOne(s) {
  if (s.rows) return prepared(s.sql).all(...s.params);
  const { changes } = prepared(s.sql).run(...s.params);
  if (s.expect !== undefined && changes !== s.expect) {
    const error = new Error('a statement changed ' + changes + ' rows where ' + s.expect + ' were expected; the transaction was rolled back');
    error.code = workerData.unexpectedChanges;
    throw error;
  }
  return null;
}
function heapFigures() {
  const v8 = require('node:v8');
  const { total_heap_size, used_heap_size } = v8.getHeapStatistics();
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return { totalBytes: total_heap_size, usedBytes: used_heap_size, youngBytes: young ? young.space_size : 0 };
}
// First, unasked: the thread's id in the operating system (Linux: /proc/thread-self names it), or null.
parentPort.postMessage({
  threadId: (() => {
    try {
      return Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()) || null;
    } catch {
      return null;
    }
  })(),
});
const run = (s) => (s.each ? runEach(prepared(s.sql), s.each, s.rows, s.numbered) : runOne(s));
// With statementCpu: by SQL text, the thread's CPU time (ns, read from /proc/thread-self/schedstat
// before and after: a few µs a statement, so only when asked for), runs, and rows bound by runEach.
// Where the thread's time cannot be read (not Linux), nothing is counted.
function threadNs() {
  return Number(require('node:fs').readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
}
const spent = workerData.statementCpu && (() => { try { return threadNs() >= 0; } catch { return false; } })() ? new Map() : null;
const TRANSACTION = 'BEGIN IMMEDIATE ... COMMIT';
function count(sql, ns, rows) {
  const entry = spent.get(sql);
  if (entry) {
    entry.ns += ns;
    entry.runs += 1;
    entry.rows += rows;
  } else spent.set(sql, { ns, runs: 1, rows });
}
let inStatements = 0;
function timed(s) {
  const rowsBefore = boundRows;
  const started = threadNs();
  const result = run(s);
  const ns = threadNs() - started;
  inStatements += ns;
  count(s.sql, ns, s.each ? boundRows - rowsBefore : 0);
  return result;
}
const runAll = db.transaction((list) => list.map(spent ? timed : run));
function runTransaction(statements) {
  if (!spent) return runAll.immediate(statements);
  inStatements = 0;
  const started = threadNs();
  try {
    return runAll.immediate(statements);
  } finally {
    count(TRANSACTION, threadNs() - started - inStatements, 0);
  }
}
function takeSpent() {
  const list = spent ? [...spent].map(([sql, e]) => ({ sql, cpuMicros: e.ns / 1000, runs: e.runs, rows: e.rows })) : [];
  spent?.clear();
  return list;
}
parentPort.on('message', (message) => {
  try {
    if (message.heap) parentPort.postMessage({ id: message.id, heap: heapFigures() });
    else if (message.statementCpu) parentPort.postMessage({ id: message.id, statementCpu: takeSpent() });
    else if (message.statements) parentPort.postMessage({ id: message.id, results: runTransaction(message.statements) });
    else if (message.join !== undefined) parentPort.postMessage({ id: message.id, text: prepared(message.sql, true).all(...message.params).join(message.join) });
    else parentPort.postMessage({ id: message.id, rows: prepared(message.sql).all(...message.params) });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: { message: String(error && error.message), code: error && error.code } });
  }
});
`;

interface Answer {
  id: number;
  heap?: ThreadHeap;
  statementCpu?: StatementCpu[];
  rows?: Record<string, unknown>[];
  text?: string;
  results?: (Record<string, unknown>[] | null)[];
  error?: { message: string; code?: string };
}

interface Pending {
  resolve(answer: Answer): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | null;
}

export interface SqliteThreadOptions {
  file: string;
  readonly: boolean;
  /** How long a statement waits for another connection's write lock (SQLITE_BUSY after). */
  busyMs: number;
  /** Run once when the connection opens. */
  pragmas?: string[];
  /**
   * A request unanswered after this long ends the worker (better-sqlite3 cannot interrupt a
   * statement); its requests fail and the next one starts a new worker. Never for writes: a
   * write that may have committed must not be reported failed (it would be written again).
   */
  stopAfterMs?: number;
  /** What a dead worker's requests fail with. */
  name: string;
  /** The worker's young generation at most, MB (default YOUNG_GENERATION_MB; null: V8's own, as tests compare). */
  youngGenerationMb?: number | null;
  /**
   * Counts the thread's CPU time in each statement (Linux only; see statementCpu()). Reading the time
   * costs a few µs a statement: for the benchmark, off unless asked for.
   */
  statementCpu?: boolean;
}

/** What one statement (by its SQL text) cost the worker's thread since the last statementCpu(). */
export interface StatementCpu {
  /** The statement's SQL; `BEGIN IMMEDIATE ... COMMIT` for the transactions' own time. */
  sql: string;
  cpuMicros: number;
  /** Times it ran (transactions, for BEGIN ... COMMIT). */
  runs: number;
  /** Rows it was bound to (a statement run for each row: `each`); 0 for a statement run once a transaction. */
  rows: number;
}

/** The worker's JS heap (V8's figures for its isolate: the app's own heap figures leave it out). */
export interface ThreadHeap {
  totalBytes: number;
  usedBytes: number;
  /** Of totalBytes, the young generation's (V8's new space). */
  youngBytes: number;
}

/**
 * A worker's young generation at most (MB). Uncapped, V8 grew the usage writer's to its largest
 * while it parsed a burst of large batches (a 20,000-key fold: its heap went from 8 MB to 36-46 MB
 * committed, 15 MB used) and kept it so while idle: the worker's full GCs are its own, and none
 * came. Capped, the same burst peaked at 23 MB and the idle heap went back to 4 MB; the process's
 * settled RSS after the bench's miss-heavy run went from 326 to 254 MB, and the fold's CPU did not
 * change (1,932 and 1,961 ms). The batches' rows are garbage the moment they are bound: a small
 * nursery collects them as well as a large one.
 */
export const YOUNG_GENERATION_MB = 6;

/** A worker thread with one connection; requests are answered in order. */
export class SqliteThread {
  private worker: Worker | null = null;
  /** The worker's thread id in the operating system, once the worker told it (its first message). */
  private threadId: number | null = null;
  private readonly pending = new Map<number, Pending>();
  /** Told when nothing is pending any more (close() waits for the last answer). */
  private idleWaiters: (() => void)[] = [];
  private nextId = 1;

  constructor(private readonly options: SqliteThreadOptions) {}

  /** Starts the worker now rather than on first use (its memory is then part of the baseline). */
  start(): void {
    this.ensure();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    // A new worker runs on a thread of its own, which it tells first.
    this.threadId = null;
    const { file, readonly, busyMs, pragmas = [], youngGenerationMb = YOUNG_GENERATION_MB, statementCpu = false } = this.options;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: youngGenerationMb === null ? {} : { maxYoungGenerationSizeMb: youngGenerationMb },
      workerData: { driver: require.resolve('better-sqlite3'), file, readonly, busyMs, pragmas, statementCpu, unexpectedChanges: UNEXPECTED_CHANGES },
    });
    // Idle, the worker keeps no process alive; while a request waits, it does (a graceful stop
    // awaiting its last usage write must not end before the write does).
    worker.unref();
    worker.on('message', (answer: Answer | { threadId: number | null }) => {
      if (!('id' in answer)) {
        if (this.worker === worker) this.threadId = answer.threadId;
        return;
      }
      const pending = this.pending.get(answer.id);
      if (!pending) return;
      this.pending.delete(answer.id);
      if (pending.timer) clearTimeout(pending.timer);
      if (this.pending.size === 0) this.becameIdle(worker);
      if (answer.error) {
        const error = Object.assign(new Error(answer.error.message), { code: answer.error.code });
        pending.reject(answer.error.code === 'SQLITE_BUSY' ? databaseUnavailable(error) : error);
      } else pending.resolve(answer);
    });
    // A worker that dies (or is ended after a timeout) fails what it had and is replaced on next use.
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const [id, pending] of this.pending) {
        if (pending.timer) clearTimeout(pending.timer);
        pending.reject(error);
        this.pending.delete(id);
      }
      this.becameIdle(worker);
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(databaseUnavailable(new Error(`the ${this.options.name} stopped`))));
    this.worker = worker;
    return worker;
  }

  private becameIdle(worker: Worker): void {
    worker.unref();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  private request(
    message: { sql: string; params: BoundValue[]; join?: string } | { statements: ThreadStatement[] } | { heap: true } | { statementCpu: true },
  ): Promise<Answer> {
    const worker = this.ensure();
    const id = this.nextId++;
    const { stopAfterMs } = this.options;
    return new Promise<Answer>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      if (stopAfterMs !== undefined) {
        timer = setTimeout(() => {
          if (this.pending.has(id)) void worker.terminate();
        }, stopAfterMs);
        timer.unref();
      }
      this.pending.set(id, { resolve, reject, timer });
      worker.ref();
      worker.postMessage({ id, ...message });
    });
  }

  /** The rows of one statement. */
  async all<T extends Record<string, unknown>>(sql: string, params: BoundValue[]): Promise<T[]> {
    const answer = await this.request({ sql, params });
    return (answer.rows ?? []) as T[];
  }

  /**
   * The first column of one statement's rows, joined by `separator` in their order, as one text:
   * a single string crosses from the worker, not a row object per row.
   */
  async joined(sql: string, params: BoundValue[], separator: string): Promise<string> {
    const answer = await this.request({ sql, params, join: separator });
    return answer.text ?? '';
  }

  /** Runs the statements in one transaction; per statement, its rows (or null where none were asked). */
  async transaction(statements: ThreadStatement[]): Promise<(Record<string, unknown>[] | null)[]> {
    const answer = await this.request({ statements });
    return answer.results ?? [];
  }

  /** What its requests fail with when the worker dies (the usage writer, the list reader). */
  get name(): string {
    return this.options.name;
  }

  /** The worker's JS heap, once it has answered what it was asked before (starts the worker). */
  async heap(): Promise<ThreadHeap> {
    const { heap } = await this.request({ heap: true });
    return heap ?? { totalBytes: 0, usedBytes: 0, youngBytes: 0 };
  }

  /**
   * The CPU time the worker's thread has run (µs), read from the operating system at once (not
   * queued behind a statement the worker runs), or null where it cannot be read (not Linux, or no
   * worker running, or one that has not told its thread's id yet). For the benchmark: what the
   * process's CPU time (all threads) holds of this thread's.
   */
  cpuMicros(): number | null {
    if (this.threadId === null || !this.worker) return null;
    try {
      // schedstat: time on the CPU (ns), time waiting to run (ns), timeslices.
      return Number(fs.readFileSync(`/proc/self/task/${this.threadId}/schedstat`, 'utf8').split(' ')[0]) / 1000;
    } catch {
      return null;
    }
  }

  /**
   * With the statementCpu option, the worker thread's CPU time in each statement since the last
   * call (which it clears), largest first; empty without the option or when no worker runs.
   */
  async statementCpu(): Promise<StatementCpu[]> {
    if (!this.options.statementCpu || !this.worker) return [];
    const { statementCpu = [] } = await this.request({ statementCpu: true });
    return statementCpu.sort((a, b) => b.cpuMicros - a.cpuMicros);
  }

  /** heap(), or null when no worker runs (it is not started for this). */
  async heapIfStarted(): Promise<ThreadHeap | null> {
    return this.worker ? this.heap() : null;
  }

  /** Ends the worker once it has answered what it was asked. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    if (this.pending.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (this.worker !== worker) return;
    this.worker = null;
    await worker.terminate();
  }
}
