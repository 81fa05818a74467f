/**
 * Streaming honours backpressure: a client that does not read makes Keyward stop reading the
 * upstream instead of buffering the whole answer in memory, and a stream whose client has not read
 * for STREAM_IDLE_TIMEOUT_SECONDS is ended and settled.
 */
import fs from 'node:fs';
import http, { type ServerResponse } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseConfig } from '../../src/config';
import type { MemoryLedger } from '../../packages/guard/src/limits/ledger';
import { createTestApp, type TestApp } from '../helpers/app';
import { tempDir } from '../helpers/databases';
import { listen } from '../helpers/listen';

const CHUNK_TEXT = 'y'.repeat(4000);
const CHUNKS = 10_000; // about 40 MB if nothing pushed back

/** An upstream that streams as fast as its socket takes it, and counts what it wrote. */
async function floodingUpstream() {
  let written = 0;
  let aborted = false;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'text/event-stream');
      let i = 0;
      const pump = () => {
        while (i < CHUNKS) {
          i += 1;
          const line = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: CHUNK_TEXT }, finish_reason: null }] })}\n\n`;
          written += line.length;
          if (!res.write(line)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end('data: [DONE]\n\n');
      };
      res.on('close', () => {
        if (!res.writableFinished) aborted = true;
      });
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    written: () => written,
    aborted: () => aborted,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

let upstream: Awaited<ReturnType<typeof floodingUpstream>>;
let t: TestApp;
let api: Awaited<ReturnType<typeof listen>>;
const responses: ServerResponse[] = [];

beforeAll(async () => {
  upstream = await floodingUpstream();
  const catalogPath = path.join(tempDir(), 'models.json');
  fs.writeFileSync(
    catalogPath,
    JSON.stringify({
      models: [{ id: 'big', ownedBy: 'x', created: 1, inputCentsPerMillion: 1, outputCentsPerMillion: 1, maxOutputTokens: 1_000_000, upstream: { baseUrl: upstream.url, model: 'm' } }],
    }),
  );
  const { llm } = parseConfig({ MODEL_CATALOG_PATH: catalogPath });
  t = await createTestApp('sqlite', {
    config: {
      llm: { models: llm.models, defaultMaxTokens: 1_000_000, upstreamTimeoutMs: 60_000 },
      http: { keepAliveTimeoutMs: 65_000, headersTimeoutMs: 66_000, streamIdleTimeoutMs: 1500, shutdownTimeoutMs: 25_000 },
    },
  });
  api = await listen(t.app);
  api.server.on('request', (_req, res) => responses.push(res));
});

afterAll(async () => {
  await api?.close();
  await t?.close();
  await upstream?.close();
});

test('a client that never reads: memory stays bounded, the upstream is held back, then the stream is ended and settled', async () => {
  const { key, apiKey } = await t.issue({ tier: 'enterprise', budget: { limitCents: 100_000, period: 'total' } });
  const body = JSON.stringify({ model: 'big', messages: [{ role: 'user', content: 'flood me' }], stream: true });
  const socket = net.connect(Number(new URL(api.url).port), '127.0.0.1');
  socket.pause(); // never read
  socket.on('error', () => undefined);
  socket.write(
    `POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );

  let maxBuffered = 0;
  const started = Date.now();
  while (Date.now() - started < 1000) {
    const res = responses.at(-1);
    if (res) maxBuffered = Math.max(maxBuffered, res.writableLength);
    await new Promise((r) => setTimeout(r, 20));
  }
  // Without backpressure the whole 40 MB answer would be queued in Keyward's memory.
  expect(maxBuffered).toBeLessThan(1_000_000);
  expect(upstream.written()).toBeLessThan(CHUNKS * CHUNK_TEXT.length * 0.5);

  // Nothing read for 1.5 s: the stream ends, the upstream call is aborted, the request is settled.
  const res = responses.at(-1) as ServerResponse;
  while (!res.destroyed && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
  expect(res.destroyed).toBe(true);
  expect(Date.now() - started).toBeLessThan(6000);
  socket.destroy();
  const deadline = Date.now() + 3000;
  while ((!upstream.aborted() || (t.ctx.limits.ledger as MemoryLedger).outstanding() > 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(upstream.aborted()).toBe(true);
  expect((t.ctx.limits.ledger as MemoryLedger).outstanding()).toBe(0);
  await t.ctx.usage.flush();
  const row = await t.ctx.database.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } });
  expect({ ok: Number(row.requestsOk), failed: Number(row.requestsFailed) }).toEqual({ ok: 0, failed: 1 });
  expect(Number(row.spendMicroCents)).toBeGreaterThan(0);
});
