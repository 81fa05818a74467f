/**
 * With TRUST_PROXY, X-Forwarded-For values that are not IP addresses are ignored: rotating
 * garbage values from one client counts against one address, for invalid keys and sign-ins.
 */
import request from 'supertest';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { buildUser } from '../helpers/context';
import { createTestApp, type TestApp } from '../helpers/app';
import { browser, signIn } from '../dashboard/dashboard-helpers';

describe('TRUST_PROXY=loopback and garbage in X-Forwarded-For', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite', {
      config: {
        trustProxy: ['loopback'],
        dashboard: { publicUrl: null, sessionIdleMinutes: 30, sessionMaxHours: 12, loginFailuresPerEmailAndIp: 3, loginFailuresPerIpPerDay: 1000 },
      },
    });
  });
  afterAll(() => t.close());

  test('invalid keys with a new garbage value each time all count against the same address: the 21st is 429', async () => {
    const garbage = (n: number) => [`<garbage-${n}>`, `unknown-${n}`, `${n}.${n}`, `x${n}, 127.0.0.${n % 250}x`][n % 4];
    const statuses: number[] = [];
    for (let n = 1; n <= 21; n++) {
      const res = await request(t.app)
        .get('/api/v1/models')
        .set('Authorization', `Bearer ${generateKey('kw').key}`)
        .set('X-Forwarded-For', garbage(n));
      statuses.push(res.status);
      if (n === 21) {
        expect(res.body.error.code).toBe('rate_limited');
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([...Array(20).fill(401), 429]);

    // The block is the proxy's (here the client's own) address, not every forwarded address:
    // a real address the trusted proxy vouches for is still its own client.
    const { key } = await t.issue();
    const other = await request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${key}`).set('X-Forwarded-For', '<x>, 203.0.113.50');
    expect(other.status).toBe(200);
  });

  test('sign-in failures with a new garbage value each time count against the same address and email', async () => {
    const user = await buildUser(t.ctx, t.tenant);
    const statuses: number[] = [];
    for (let n = 1; n <= 4; n++) {
      const agent = browser(t.app).set('X-Forwarded-For', `<garbage-${n}>`);
      statuses.push((await signIn(t.app, user.email, `wrong password ${n}`, agent)).res.status);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
  });
});
