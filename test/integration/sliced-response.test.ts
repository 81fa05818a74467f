/**
 * sendJsonList and sendCsv (src/http/sliced-response.ts, csv-response.ts): the bytes res.json() would send, whatever the
 * number of items against the slice size; the event loop is free between slices; a client that
 * leaves mid-answer (a raw socket closed after the first bytes) ends the handler instead of
 * leaving it waiting for a drain that never comes.
 */
import net from 'node:net';
import express from 'express';
import request from 'supertest';
import { sendCsv } from '../../src/http/csv-response';
import { toCsv } from '../../src/lib/csv';
import { sendJsonList, sendJsonText } from '../../src/http/sliced-response';
import { listen } from '../helpers/listen';
import { loopTurnsDuring } from '../helpers/loop-turns';

const item = (i: number) => ({ id: `k${i}`, name: i % 7 === 0 ? `quote " \\ ✓ ${i}` : null, n: i, nested: { a: [i, -i] } });

describe('sendJsonList', () => {
  it.each([1, 2, 3, 5, 1024])('sendJsonText: a JSON text cut into parts of %i bytes arrives whole, characters of 2 to 4 bytes included', async (partBytes) => {
    const data = [{ name: 'ключ 🔑 é ✓', n: 1.5 }, null, 'z'.repeat(300), { deep: ['🔑🔑', -0.000001] }];
    const app = express();
    app.get('/text', async (_req, res) => sendJsonText(res, { from: '2026-11-01', groupBy: 'key' }, 'data', JSON.stringify(data), partBytes));
    app.get('/json', (_req, res) => void res.json({ from: '2026-11-01', groupBy: 'key', data }));
    const [text, whole] = [await request(app).get('/text'), await request(app).get('/json')];
    expect(text.status).toBe(200);
    expect(text.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(text.text).toBe(whole.text);
  });

  it.each([0, 1, 499, 500, 501, 1201])('answers exactly what res.json() answers for %i items', async (count) => {
    const items = Array.from({ length: count }, (_, i) => i);
    const app = express();
    app.get('/stream', async (_req, res) => sendJsonList(res, { from: '2026-11-01', to: '2026-11-30' }, 'data', items, item));
    app.get('/json', (_req, res) => void res.json({ from: '2026-11-01', to: '2026-11-30', data: items.map(item) }));
    const [streamed, whole] = [await request(app).get('/stream'), await request(app).get('/json')];
    expect(streamed.status).toBe(200);
    expect(streamed.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(streamed.text).toBe(whole.text);
  });

  it.each([0, 1, 500, 501, 1201])('CSV: answers exactly what toCsv() gives for %i rows, with the download headers', async (count) => {
    const header = ['id', 'name', 'n', 'when'];
    const rows = Array.from({ length: count }, (_, i) => [`k${i}`, i % 5 === 0 ? `=cmd, "quoted"\r\n${i}` : `plain ${i}`, -i, new Date(Date.UTC(2026, 10, 30, 0, 0, i))]);
    const app = express();
    app.get('/csv', async (_req, res) => sendCsv(res, 'usage export.csv', { header, rows }));
    const res = await request(app).get('/csv').buffer(true).parse((r, done) => {
      let text = '';
      r.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      r.on('end', () => done(null, text));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="usage_export.csv"');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toBe(toCsv(header, rows));
  });

  it('lets other callbacks run between slices', async () => {
    const items = Array.from({ length: 5000 }, (_, i) => i);
    let ticks = 0;
    const app = express();
    app.get('/stream', async (_req, res) => {
      ticks = await loopTurnsDuring(() => sendJsonList(res, {}, 'data', items, item));
    });
    const res = await request(app).get('/stream');
    expect(JSON.parse(res.text).data).toHaveLength(5000);
    // Ten slices, the loop turning between them (written at once, it could not turn).
    expect(ticks).toBeGreaterThanOrEqual(9);
  });

  it('ends the handler when the client leaves mid-answer', async () => {
    // Big enough to fill the socket's buffers long before the end.
    const items = Array.from({ length: 200_000 }, (_, i) => i);
    let finished: (outcome: string) => void = () => undefined;
    const handlerDone = new Promise<string>((resolve) => (finished = resolve));
    const app = express();
    app.get('/stream', async (_req, res) => {
      await sendJsonList(res, {}, 'data', items, item);
      finished(res.writableEnded ? 'ended' : 'left');
    });
    const server = await listen(app);
    try {
      const { port } = new URL(server.url);
      const socket = net.connect(Number(port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
      // Read the first bytes, then stop reading and leave.
      await new Promise((resolve) => socket.once('data', resolve));
      socket.pause();
      socket.destroy();
      const outcome = await Promise.race([handlerDone, new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 5000))]);
      expect(outcome).toBe('left');
    } finally {
      await server.close();
    }
  });
});
