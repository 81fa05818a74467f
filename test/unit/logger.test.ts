/**
 * The app's logger: redaction covers what pino-http's standard serializers would write, the app's
 * own serializers write no header, cookie or query string, and LOG_FORMAT=pretty uses pino-pretty.
 */
import { Writable } from 'node:stream';
import express from 'express';
import { type Options, pinoHttp, stdSerializers } from 'pino-http';
import request from 'supertest';
import { announcer, createLogger } from '../../src/logger';

function capture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const SECRET = 'kw_AbCd1234EfGh_secretsecretsecret';

/** An app logging each request with pino-http configured by `options`, on a logger writing to `out`. */
async function logOneRequest(options: Options) {
  const out = capture();
  const app = express();
  app.use(pinoHttp({ logger: createLogger('info', { destination: out.stream }), ...options }));
  app.get('/x', (_req, res) => {
    res.setHeader('Set-Cookie', `keyward.sid=${SECRET}; HttpOnly`);
    res.json({ ok: true });
  });
  await request(app)
    .get(`/x?api_key=${SECRET}`)
    .set('Authorization', `Bearer ${SECRET}`)
    .set('X-API-Key', SECRET)
    .set('Proxy-Authorization', `Basic ${SECRET}`)
    .set('Cookie', `keyward.sid=${SECRET}`);
  return out.text();
}

describe('createLogger', () => {
  it("redacts what pino-http's standard serializers write: credentials, cookies, query string", async () => {
    const text = await logOneRequest({ serializers: { ...stdSerializers } });
    const line = JSON.parse(text.trim().split('\n').pop() as string);
    expect(line.req.headers).toMatchObject({ authorization: '[redacted]', 'x-api-key': '[redacted]', cookie: '[redacted]', 'proxy-authorization': '[redacted]' });
    expect(line.res.headers['set-cookie']).toBe('[redacted]');
    expect(line.req).toMatchObject({ url: '[redacted]', query: '[redacted]' });
    expect(text).not.toContain(SECRET);
  });

  it('writes a request as id, method and path, a response as its status, with its own serializers (as the access log uses them)', async () => {
    const text = await logOneRequest({ wrapSerializers: false });
    const line = JSON.parse(text.trim().split('\n').pop() as string);
    expect(line.req).toEqual({ id: expect.anything(), method: 'GET', path: '/x' });
    expect(line.res).toEqual({ statusCode: 200 });
    expect(text).not.toContain(SECRET);
  });

  it('writes pino-pretty lines with format "pretty"', () => {
    const out = capture();
    createLogger('info', { format: 'pretty', destination: out.stream }).info({ port: 3000 }, 'listening');
    expect(out.text()).toMatch(/^\[[\d:.]+\] INFO: listening\n {4}port: 3000\n$/);
  });

  it('announcer() writes at info whatever the level, without changing the logger', () => {
    const out = capture();
    const logger = createLogger('warn', { destination: out.stream });
    announcer(logger).info('applied migration x');
    logger.info('not at warn');
    expect(out.text().trim().split('\n').map((line) => JSON.parse(line).msg)).toEqual(['applied migration x']);
    const debug = createLogger('debug', { destination: out.stream });
    expect(announcer(debug)).toBe(debug); // already writes info: itself, at debug
  });
});
