/**
 * The README's start command, stopped the way a supervisor stops it: SIGTERM (or SIGINT) sent to
 * the `npm` process of `npm start` itself. The stop must be graceful (the request in flight
 * finishes, the port closes, buffered usage is written, exit 0) and leave no node process behind.
 * Also: the server's keep-alive timeout is 65 s, not Node's 5 s.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { tempDir } from '../helpers/databases';
import { freePort, ROOT, runCli } from '../helpers/processes';

const STREAM_WORDS = 30;
const WORD_INTERVAL_MS = 100;

/** An OpenAI-compatible upstream that streams one word every WORD_INTERVAL_MS: a slow request. */
function slowUpstream() {
  const finished: boolean[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      const request = JSON.parse(body) as { stream?: boolean; stream_options?: { include_usage?: boolean } };
      const base = { id: 'chatcmpl-slow', created: 1, model: 'slow' };
      if (!request.stream) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'quick' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const send = (data: unknown) => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
      for (let i = 0; i < STREAM_WORDS; i++) {
        send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `w${i} ` }, finish_reason: null }] });
        await new Promise((r) => setTimeout(r, WORD_INTERVAL_MS));
      }
      send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
      if (request.stream_options?.include_usage) {
        send({ ...base, object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 5, completion_tokens: STREAM_WORDS, total_tokens: 5 + STREAM_WORDS } });
      }
      send('[DONE]');
      res.end();
      finished.push(true);
    });
  });
  return { server, finished };
}

/** Pids of `node dist/server.js` processes listening on `port` (by command line and environment). */
function serverPids(port: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [executable, script] = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (path.basename(executable) !== 'node' || !script?.endsWith(path.join('dist', 'server.js'))) continue;
      const environ = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`PORT=${port}`)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One GET on a raw socket that stays open (keep-alive); resolves with the response head. */
function rawGet(socket: net.Socket, pathname: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const onData = (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(data)?.[1] ?? 0);
      if (data.length >= end + 4 + length) {
        socket.off('data', onData);
        resolve(data.slice(0, end));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
  });
}

interface Started {
  npm: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** What a test started, killed afterwards if a failed assertion left it running. */
const leftovers: { npm: ChildProcess; port: number; sockets: net.Socket[] }[] = [];

afterEach(() => {
  for (const { npm, port, sockets } of leftovers.splice(0)) {
    for (const socket of sockets) socket.destroy();
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    for (const pid of serverPids(port)) process.kill(pid, 'SIGKILL');
  }
});

/** Runs the README's `npm start` in the repository, on a private SQLite file and port. */
async function npmStart(port: number, env: Record<string, string>): Promise<Started> {
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      npm_config_update_notifier: 'false',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  leftovers.push({ npm, port, sockets: [] });
  let output = '';
  npm.stdout?.on('data', (d) => (output += d));
  npm.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  // prestart builds dist/ only when it is stale; allow for a build on a slow machine.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (npm.exitCode !== null) throw new Error(`npm start exited with ${npm.exitCode}:\n${output}`);
    try {
      // Healthy, and answered by this server: another process may have taken the port meanwhile.
      if ((await fetch(`${url}/healthz`)).status === 200 && serverPids(port).length > 0) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      npm.kill('SIGKILL');
      throw new Error(`npm start did not become healthy:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { npm, url, output: () => output, exited };
}

describe.each(['SIGTERM', 'SIGINT'] as const)('%s to the npm process of `npm start`', (signal) => {
  let upstream: ReturnType<typeof slowUpstream>;
  let upstreamUrl: string;

  beforeAll(async () => {
    upstream = slowUpstream();
    await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => upstream.server.close(() => resolve())));

  it('stops gracefully: the request in flight finishes, the port closes, usage is written, npm exits 0, no node is left', async () => {
    const dir = tempDir();
    const catalog = path.join(dir, 'models.json');
    fs.writeFileSync(
      catalog,
      JSON.stringify({
        models: [
          { id: 'local-small', ownedBy: 'keyward', created: 1, inputCentsPerMillion: 15, outputCentsPerMillion: 60, maxOutputTokens: 4096 },
          { id: 'slow', ownedBy: 'test', created: 1, inputCentsPerMillion: 100, outputCentsPerMillion: 100, maxOutputTokens: 1000, upstream: { baseUrl: `${upstreamUrl}/v1` } },
        ],
      }),
    );
    const dbFile = path.join(dir, 'keyward.db');
    const env = { DATABASE_URL: `file:${dbFile}`, MODEL_CATALOG_PATH: catalog, ADMIN_PASSWORD: 'a very good password' };
    const created = await runCli(['keys', 'create', '--tenant', 'default', '--name', 'stop', '--tier', 'enterprise', '--json'], { cwd: dir, env });
    expect(created.code).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

    // A free port can be taken by another process before the server listens: then try another.
    let port = 0;
    let app: Started | undefined;
    for (let attempt = 1; !app; attempt++) {
      port = await freePort();
      app = await npmStart(port, env).catch((error: Error) => {
        if (attempt < 3 && /EADDRINUSE/.test(error.message)) return undefined;
        throw error;
      });
    }
    const pids = serverPids(port);
    expect({ pids: pids.length, output: pids.length === 1 ? '' : app.output() }).toEqual({ pids: 1, output: '' });

    let idle: net.Socket | null = null;
    let idleClosed = false;
    if (signal === 'SIGTERM') {
      // Keep-alive: advertised as 65 s, and an idle connection outlives Node's default 5 s.
      idle = net.connect(port, '127.0.0.1');
      leftovers[leftovers.length - 1].sockets.push(idle);
      idle.on('close', () => (idleClosed = true));
      const head = await rawGet(idle, '/healthz');
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      expect(head).toMatch(/\r\nKeep-Alive: timeout=65(\r\n|$)/i);
      await new Promise((r) => setTimeout(r, 6000));
      expect(idleClosed).toBe(false);
      expect(await rawGet(idle, '/healthz')).toMatch(/^HTTP\/1\.1 200/);
    }

    // Requests served before the signal: their usage must be in the database after the stop.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${app.url}/api/v1/chat/completions`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ model: 'local-small', messages: [{ role: 'user', content: 'before the stop' }] }),
      });
      expect(res.status).toBe(200);
      await res.text();
    }

    // A slow streamed request, in flight when the signal arrives.
    const slow = await fetch(`${app.url}/api/v1/chat/completions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'take your time' }] }),
    });
    expect(slow.status).toBe(200);
    const reader = slow.body!.getReader();
    const decoder = new TextDecoder();
    let streamed = decoder.decode((await reader.read()).value, { stream: true });
    let streamDone = false;
    const rest = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        streamed += decoder.decode(value, { stream: true });
      }
      streamDone = true;
    })();
    rest.catch(() => undefined); // awaited below; a failed assertion before that must not leave it unhandled

    expect(app.npm.kill(signal)).toBe(true);

    // It stops accepting connections while the stream is still running...
    const deadline = Date.now() + 2000;
    while ((await listening(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(await listening(port)).toBe(false);
    expect(streamDone).toBe(false);

    // ...finishes it, and exits 0 (npm passes the server's exit code on).
    await rest;
    for (let i = 0; i < STREAM_WORDS; i++) expect(streamed).toContain(`w${i}`);
    expect(streamed).toContain('data: [DONE]');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(upstream.finished.length).toBeGreaterThan(0);

    // No node process is left behind, orphaned or not.
    expect(fs.existsSync(`/proc/${pids[0]}`)).toBe(false);
    expect(serverPids(port)).toEqual([]);
    if (idle) {
      // The idle keep-alive connection was closed by the stop, not left to its 65 s.
      expect(idleClosed).toBe(true);
    }

    const output = app.output();
    expect(output).toMatch(new RegExp(`"signal":"${signal}".*stopping: no new connections, finishing requests in flight`));
    expect(output).toMatch(new RegExp(`"signal":"${signal}".*stopped: requests finished, usage written, connections closed`));

    const db = new BetterSqlite3(dbFile, { readonly: true });
    const row = db.prepare('SELECT requestsOk, requestsFailed FROM api_keys WHERE id = ?').get(id);
    const hourly = db.prepare('SELECT SUM(requestsOk) AS ok FROM usage_hourly WHERE keyId = ?').get(id);
    db.close();
    expect(row).toEqual({ requestsOk: 4, requestsFailed: 0 });
    expect(hourly).toEqual({ ok: 4 });
  }, 120_000);
});
