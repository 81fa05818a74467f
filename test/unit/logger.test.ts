/**
 * The app's logger: redaction covers what pino's standard request and response serializers would
 * write, the app's own serializers write no header, cookie or query string, and LOG_FORMAT=pretty
 * uses pino-pretty.
 */
import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
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

/**
 * An app that logs its one request once answered, on a logger writing to `out`: as pino's standard
 * serializers write a request and response (`standard`), or as given to the logger (`own`).
 */
async function logOneRequest(serializers: 'standard' | 'own') {
  const out = capture();
  const logger = createLogger('info', { destination: out.stream });
  const app = express();
  app.get('/x', (req, res) => {
    res.setHeader('Set-Cookie', `keyward.sid=${SECRET}; HttpOnly`);
    res.once('finish', () => {
      const standard = { req: pino.stdSerializers.req, res: pino.stdSerializers.res };
      if (serializers === 'standard') logger.child({}, { serializers: standard }).info({ req, res }, 'request completed');
      else logger.info({ req: Object.assign(req, { id: 'r1' }), res }, 'request completed');
    });
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
  it("redacts what pino's standard serializers write: credentials, cookies, query string", async () => {
    const text = await logOneRequest('standard');
    const line = JSON.parse(text.trim().split('\n').pop() as string);
    expect(line.req.headers).toMatchObject({ authorization: '[redacted]', 'x-api-key': '[redacted]', cookie: '[redacted]', 'proxy-authorization': '[redacted]' });
    expect(line.res.headers['set-cookie']).toBe('[redacted]');
    expect(line.req).toMatchObject({ url: '[redacted]', query: '[redacted]' });
    expect(text).not.toContain(SECRET);
  });

  it('writes a request as id, method and path, a response as its status, with its own serializers', async () => {
    const text = await logOneRequest('own');
    const line = JSON.parse(text.trim().split('\n').pop() as string);
    expect(line.req).toEqual({ id: 'r1', method: 'GET', path: '/x' });
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
