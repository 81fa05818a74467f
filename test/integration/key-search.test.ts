/**
 * The key list's text search matches literally on every provider: `%`, `_` and `\` typed by a
 * person are characters, not LIKE wildcards or escapes (Prisma's `contains` does not escape them).
 */
import request from 'supertest';
import { escapeLike, withLikeEscapeClause } from '../../src/data/dialects/like-escape';
import { createTestApp, type TestApp } from '../helpers/app';
import { availableProviders } from '../helpers/databases';
import { referenceListKeys } from '../helpers/reference-key-list';

describe('escapeLike and the SQLite ESCAPE clause', () => {
  test('escapes the backslash, percent and underscore, nothing else', () => {
    expect(escapeLike('100%_a\\b')).toBe('100\\%\\_a\\\\b');
    expect(escapeLike('plain text é')).toBe('plain text é');
  });

  test("adds ESCAPE '\\' to the LIKE shapes Prisma writes for SQLite, and leaves other SQL alone", () => {
    const contains = 'SELECT `id` FROM `main`.`api_keys` WHERE (`main`.`api_keys`.`name` LIKE (\'%\' || ? || \'%\') OR `main`.`api_keys`.`description` LIKE (\'%\' || ? || \'%\')) LIMIT ?';
    expect(withLikeEscapeClause(contains)).toBe(
      "SELECT `id` FROM `main`.`api_keys` WHERE (`main`.`api_keys`.`name` LIKE ('%' || ? || '%') ESCAPE '\\' OR `main`.`api_keys`.`description` LIKE ('%' || ? || '%') ESCAPE '\\') LIMIT ?",
    );
    expect(withLikeEscapeClause("`name` LIKE (? || '%')")).toBe("`name` LIKE (? || '%') ESCAPE '\\'");
    expect(withLikeEscapeClause("`name` LIKE ('%' || ?)")).toBe("`name` LIKE ('%' || ?) ESCAPE '\\'");
    const other = "SELECT 1 WHERE 'a' LIKE 'a' AND `x` = ?";
    expect(withLikeEscapeClause(other)).toBe(other);
  });
});

describe.each(availableProviders)('key search on %s', (provider) => {
  let t: TestApp;
  let reader: string;
  const NAMES = ['100%', '100 percent', 'a%b', 'A%B upper', 'aXb', 'acb', 'a_b', 'a-b', 'back\\slash', 'backslash', 'x\\%y', 'x\\y'];

  beforeAll(async () => {
    t = await createTestApp(provider);
    reader = (await t.issue({ name: 'reader', scopes: ['keys:read'] })).key;
    for (const name of NAMES) await t.issue({ name });
    await t.issue({ name: 'described', description: 'rate is 5% for_now' });
  });
  afterAll(() => t.close());

  // The key list (trigram index, then LIKE) and the plain Prisma query (containsText) must agree.
  const names = async (search: string) => {
    const listed = (await t.ctx.keys.list(t.tenant.id, { search, size: 100 })).data.map((k) => k.name).sort();
    const reference = await referenceListKeys(t.ctx.database, { tenantId: t.tenant.id, search, page: 1, size: 100 });
    expect(reference.rows.map((k) => k.name).sort()).toEqual(listed);
    return listed;
  };

  test.each([
    ['%', ['100%', 'A%B upper', 'a%b', 'described', 'x\\%y']],
    ['_', ['a_b', 'described']],
    ['\\', ['back\\slash', 'x\\%y', 'x\\y']],
    ['a%b', ['A%B upper', 'a%b']],
    ['a_b', ['a_b']],
    ['\\%', ['x\\%y']],
    ['%_', []],
    ['100%', ['100%']],
    ['5% for_', ['described']],
  ])('search %j matches only keys containing it literally', async (search, expected) => {
    expect(await names(search)).toEqual([...expected].sort());
  });

  test('ordinary searches still match case-insensitively in name and description', async () => {
    expect(await names('BACK')).toEqual(['back\\slash', 'backslash']);
    expect(await names('RATE IS')).toEqual(['described']);
  });

  test('the management API search and its total follow the same rule', async () => {
    const res = await request(t.app)
      .get(`/api/v1/keys?size=100&search=${encodeURIComponent('%')}`)
      .set('Authorization', `Bearer ${reader}`)
      .expect(200);
    expect(res.body.total).toBe(5);
    expect(res.body.data.map((k: { name: string }) => k.name).sort()).toEqual(['100%', 'A%B upper', 'a%b', 'described', 'x\\%y']);
  });
});

describe.each(availableProviders)('sorting by last use on %s', (provider) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(provider);
  });
  afterAll(() => t.close());

  test('"recently used" lists used keys first, most recent first, and never-used keys last; ascending the reverse', async () => {
    const reader = (await t.issue({ name: 'reader', scopes: ['keys:read'] })).key;
    const never = await t.issue({ name: 'never used' });
    const older = await t.issue({ name: 'used earlier', tier: 'enterprise' });
    const recent = await t.issue({ name: 'used lately', tier: 'enterprise' });
    for (const k of [older, recent]) {
      expect((await request(t.app).get('/api/v1/models').set('authorization', `Bearer ${k.key}`)).status).toBe(200);
      await t.ctx.usage.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
    const names = async (order: string) =>
      (await request(t.app).get(`/api/v1/keys?sort=lastUsedAt&order=${order}&size=100`).set('authorization', `Bearer ${reader}`)).body.data
        .map((k: { name: string }) => k.name)
        .filter((n: string) => [never, older, recent].some((k) => k.apiKey.name === n));
    expect(await names('desc')).toEqual(['used lately', 'used earlier', 'never used']);
    expect(await names('asc')).toEqual(['never used', 'used earlier', 'used lately']);
  });
});
