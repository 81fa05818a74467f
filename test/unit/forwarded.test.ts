/** X-Forwarded-For parsing: which entries are addresses, where the header is cut, the canonical forms. */
import express from 'express';
import request from 'supertest';
import { forwardedAddress, forwardedForCleanup, trustworthyForwardedFor } from '../../src/http/forwarded';

describe('forwardedAddress', () => {
  test.each([
    ['203.0.113.7', '203.0.113.7'],
    ['203.0.113.7:5678', '203.0.113.7'],
    ['0.0.0.0', '0.0.0.0'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['::1', '::1'],
    ['::ffff:203.0.113.7', '::ffff:203.0.113.7'],
    ['::FFFF:cb00:7107', '::ffff:203.0.113.7'],
    // A bare IPv6 address has no port: the last group is part of the address.
    ['2001:db8::1:443', '2001:db8::1:443'],
  ])('%j is the address %j', (entry, address) => {
    expect(forwardedAddress(entry)).toBe(address);
  });

  test.each([
    '',
    '<x>',
    'unknown',
    '_hidden',
    'garbage-1',
    'example.com',
    '203.0.113.256',
    '203.0.113',
    '127.1',
    '2130706433',
    '0x7f.0.0.1',
    '010.0.0.1',
    '203.0.113.7:65536',
    '203.0.113.7:',
    '203.0.113.7 ',
    '[2001:db8::1',
    '[203.0.113.7]',
    '[2001:db8::1]:99999',
    'fe80::1%eth0',
    '2001:db8:::1',
    ':::',
  ])('%j is not an address', (entry) => {
    expect(forwardedAddress(entry)).toBeNull();
  });
});

describe('trustworthyForwardedFor', () => {
  test.each([
    ['203.0.113.7', '203.0.113.7'],
    ['198.51.100.1, 203.0.113.7', '198.51.100.1, 203.0.113.7'],
    ['<x>', ''],
    ['unknown, 203.0.113.7', '203.0.113.7'],
    ['198.51.100.1, <x>, 203.0.113.7, 10.0.0.2', '203.0.113.7, 10.0.0.2'],
    ['203.0.113.7, <x>', ''],
    ['203.0.113.7,,  10.0.0.2 ', '203.0.113.7, 10.0.0.2'],
    ['\t203.0.113.7:80,[2001:DB8::1]:443', '203.0.113.7, 2001:db8::1'],
    ['', ''],
  ])('%j keeps %j', (header, kept) => {
    expect(trustworthyForwardedFor(header)).toBe(kept);
  });
});

describe('forwardedForCleanup', () => {
  function appWith(trustProxy: false | number | string[]) {
    const app = express();
    app.set('trust proxy', trustProxy);
    app.use(forwardedForCleanup(trustProxy));
    app.get('/', (req, res) => {
      res.json({ ip: req.ip, header: req.headers['x-forwarded-for'] ?? null });
    });
    return app;
  }

  test('with trusted proxies, garbage never becomes the client address', async () => {
    const app = appWith(['loopback']);
    const garbage = await request(app).get('/').set('X-Forwarded-For', '<garbage-1>').expect(200);
    expect(garbage.body).toEqual({ ip: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/), header: null });
    const behind = await request(app).get('/').set('X-Forwarded-For', '<x>, 203.0.113.7').expect(200);
    expect(behind.body).toEqual({ ip: '203.0.113.7', header: '203.0.113.7' });
    const ported = await request(app).get('/').set('X-Forwarded-For', '203.0.113.8:4711').expect(200);
    expect(ported.body.ip).toBe('203.0.113.8');
  });

  test('with a hop count, the cut stops at the last trusted hop', async () => {
    const app = appWith(1);
    const res = await request(app).get('/').set('X-Forwarded-For', '198.51.100.1, unknown').expect(200);
    expect(res.body.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });

  test('without trusted proxies the header is left alone (Express ignores it anyway)', async () => {
    const res = await request(appWith(false)).get('/').set('X-Forwarded-For', '<x>').expect(200);
    expect(res.body.header).toBe('<x>');
    expect(res.body.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });

  test('refuses a setting that is not one of config.trustProxy\'s forms', () => {
    expect(() => forwardedForCleanup(true as unknown as false)).toThrow(/trustProxy must be false, a hop count or a list/);
    expect(() => forwardedForCleanup(-1)).toThrow(TypeError);
  });
});
