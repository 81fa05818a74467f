/**
 * Sessions: stored in the database (not in the process), idle timeout and absolute lifetime on a
 * test clock, password change ending the other sessions, sign out of others and everywhere.
 */
import request from 'supertest';
import { createApp } from '../../src/app';
import { availableProviders } from '../helpers/databases';
import { createWorld, csrfOf, fieldError, form, PASSWORD, post, sessionCookie, signIn, signedIn, type World } from './dashboard-helpers';

const MINUTE = 60_000;

function testClock() {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    advance: (ms: number) => {
      offset += ms;
    },
  };
}

describe.each(availableProviders)('session storage on %s', (provider) => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld({ provider });
  });
  afterAll(() => w.close());

  test('sessions live in the database and survive a new app instance (no MemoryStore)', async () => {
    const agent = await signedIn(w.app, w.owner.email);
    const res = await agent.get('/').expect(200);
    const cookie = sessionCookie(res) as string;
    const rows = await w.ctx.database.prisma.session.findMany({ where: { userId: w.owner.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0].expiresAt.getTime()).toBeGreaterThan(Date.now() + 29 * MINUTE);
    expect(JSON.parse(rows[0].data)).toMatchObject({ userId: w.owner.id });

    // Another app on the same database (a restart, or a second instance) knows the session.
    const restarted = createApp(w.ctx);
    await request(restarted).get('/keys').set('Cookie', cookie).expect(200);
  });

  test('a forged or unknown session cookie is anonymous', async () => {
    await request(w.app).get('/').set('Cookie', 'keyward.sid=s%3Aforged.signature').expect(302).expect('Location', '/login');
  });
});

describe('session timeouts', () => {
  const clock = testClock();
  let w: World;
  beforeAll(async () => {
    w = await createWorld({
      clock: clock.now,
      config: {
        dashboard: { publicUrl: null, sessionIdleMinutes: 30, sessionMaxHours: 2, loginFailuresPerEmailAndIp: 5, loginFailuresPerIpPerDay: 100 },
      },
    });
  });
  afterAll(() => w.close());

  test('ends after the idle timeout without activity', async () => {
    const agent = await signedIn(w.app, w.owner.email);
    clock.advance(29 * MINUTE);
    await agent.get('/keys').expect(200);
    clock.advance(29 * MINUTE); // activity moved the deadline: still signed in
    await agent.get('/keys').expect(200);
    clock.advance(31 * MINUTE);
    await agent.get('/keys').expect(302).expect('Location', '/login?next=%2Fkeys');
    expect(await w.ctx.database.prisma.session.count({ where: { userId: w.owner.id } })).toBe(0);
  });

  test('activity is written at most once a minute: a view within it leaves the row alone, and the session still ends on time', async () => {
    const agent = await signedIn(w.app, w.otherMember.email);
    const stored = async () => (await w.ctx.database.prisma.session.findFirstOrThrow({ where: { userId: w.otherMember.id } })).expiresAt.getTime();
    await agent.get('/keys').expect(200);
    const first = await stored();
    clock.advance(50_000);
    await agent.get('/keys').expect(200);
    expect(await stored()).toBe(first);
    clock.advance(20_000); // 70 s after the write: moved
    await agent.get('/keys').expect(200);
    const moved = await stored();
    expect(moved - first).toBeGreaterThanOrEqual(70_000);
    // Idle for the timeout after the last written activity: ended, as any idle session.
    clock.advance(30 * MINUTE - 10_000);
    await agent.get('/keys').expect(200);
    clock.advance(30 * MINUTE);
    await agent.get('/keys').expect(302);
  });

  test('ends at the absolute lifetime even with activity', async () => {
    const agent = await signedIn(w.app, w.member.email);
    for (let i = 0; i < 4; i++) {
      clock.advance(25 * MINUTE);
      await agent.get('/').expect(200);
    }
    clock.advance(15 * MINUTE); // 115 minutes after sign-in: active, within 2 hours
    await agent.get('/').expect(200);
    clock.advance(10 * MINUTE); // 125 minutes: past the absolute lifetime
    await agent.get('/').expect(302).expect('Location', '/login');
  });
});

describe('password change and signing out', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('a wrong current password or a mismatch changes nothing and shows why beside the field', async () => {
    const agent = await signedIn(w.app, w.otherMember.email);
    const wrong = await post(agent, '/account/password', { currentPassword: 'not it at all', newPassword: 'a new long password', confirmPassword: 'a new long password' });
    expect(wrong.status).toBe(400);
    expect(fieldError(wrong.text, 'currentPassword')).toBe('Is not your current password.');
    const mismatch = await post(agent, '/account/password', { currentPassword: PASSWORD, newPassword: 'a new long password', confirmPassword: 'another one entirely' });
    expect(mismatch.status).toBe(400);
    expect(fieldError(mismatch.text, 'confirmPassword')).toBe('Does not match the new password.');
    const short = await post(agent, '/account/password', { currentPassword: PASSWORD, newPassword: 'short', confirmPassword: 'short' });
    expect(short.status).toBe(400);
    expect(fieldError(short.text, 'newPassword')).toBe('Must be at least 12 characters.');
    await signedIn(w.app, w.otherMember.email);
  });

  test('changing the password ends the other sessions and renews this one', async () => {
    const mine = await signedIn(w.app, w.member.email);
    const other = await signedIn(w.app, w.member.email);
    const third = await signedIn(w.app, w.member.email);
    const { csrf } = await form(mine, '/account');
    const before = sessionCookie(await mine.get('/account'));
    const res = await mine
      .post('/account/password')
      .type('form')
      .send({ currentPassword: PASSWORD, newPassword: 'a brand new passphrase', confirmPassword: 'a brand new passphrase', _csrf: csrf })
      .expect(302);
    expect(sessionCookie(res)).not.toBe(before);
    const page = await mine.get('/account').expect(200);
    expect(page.text).toContain('Your password is changed. Your other sessions were signed out.');
    await other.get('/').expect(302);
    await third.get('/').expect(302);
    expect(await w.ctx.database.prisma.session.count({ where: { userId: w.member.id } })).toBe(1);

    expect((await signIn(w.app, w.member.email, PASSWORD)).res.status).toBe(401);
    await signedIn(w.app, w.member.email, 'a brand new passphrase');
    const events = await w.ctx.database.prisma.auditEvent.findMany({ where: { action: 'user.password_change', targetId: w.member.id } });
    expect(events).toHaveLength(1);
    expect(events[0].actorId).toBe(w.member.id);
  });

  test('"sign out other sessions" keeps this one', async () => {
    const mine = await signedIn(w.app, w.owner.email);
    const other = await signedIn(w.app, w.owner.email);
    const page = await mine.get('/account').expect(200);
    expect(page.text.match(/This session/g)).toHaveLength(1);
    expect(page.text.match(/<td data-label="Browser">/g)?.length).toBeGreaterThanOrEqual(2);
    await mine.post('/account/sign-out-others').type('form').send({ _csrf: csrfOf(page.text) }).expect(302);
    await mine.get('/').expect(200);
    await other.get('/').expect(302);
  });

  test('"sign out everywhere" ends every session, this one included', async () => {
    const mine = await signedIn(w.app, w.admin.email);
    const other = await signedIn(w.app, w.admin.email);
    const res = await post(mine, '/account/sign-out-everywhere');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login?signedOut=1');
    await mine.get('/').expect(302);
    await other.get('/').expect(302);
    expect(await w.ctx.database.prisma.session.count({ where: { userId: w.admin.id } })).toBe(0);
  });
});
