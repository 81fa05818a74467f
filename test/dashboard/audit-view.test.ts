/** How audit events read: every changed field in human terms, names beside ids, the key filter. */
import type { AuditEvent } from '../../src/audit/audit-types';
import { actionLabel, auditRows, describeChanges, keyIdOfFilter, VISIBLE_CHANGES } from '../../src/dashboard/audit-view';

function event(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: 'e1',
    tenantId: 't1',
    actorType: 'user',
    actorId: 'u1',
    actorLabel: 'ann@example.com',
    action: 'key.update',
    targetType: 'api_key',
    targetId: 'AbCd1234EfGh',
    targetLabel: 'billing prod',
    changes: null,
    labels: null,
    ip: null,
    userAgent: null,
    createdAt: new Date('2026-11-22T12:00:00Z'),
    ...overrides,
  };
}

test('changes read as human before → after lines', () => {
  expect(describeChanges({ status: { before: 'active', after: 'revoked' } })).toEqual([
    { field: 'status', label: 'status', before: 'active', after: 'revoked' },
  ]);
  const lines = describeChanges(
    {
      budget: { before: null, after: { limitCents: 500, period: 'monthly' } },
      rateLimits: { before: { perMinute: null, perHour: null, perDay: null, perMonth: null }, after: { perMinute: 20, perHour: null, perDay: 1000, perMonth: null } },
      usageLimit: { before: 50000, after: null },
      spendMicroCents: { before: 61250, after: 0 },
      ownerId: { before: 'u1', after: 'u2' },
      allowedIps: { before: [], after: ['10.0.0.0/8'] },
      expiresAt: { before: null, after: '2026-12-01T00:00:00.000Z' },
      disabled: { before: false, after: true },
    },
    { u1: 'ann@example.com', u2: 'bo@example.com' },
  );
  expect(lines.map((l) => `${l.label}: ${l.before} → ${l.after}`)).toEqual([
    'budget: no budget → $5.00 monthly',
    'rate limits: tier defaults → 20/min, 1,000/day',
    'request quota: 50,000 requests → no quota',
    'spend: $0.000613 → $0.00',
    'owner: ann@example.com → bo@example.com',
    'allowed IPs: any address → 10.0.0.0/8',
    'expires: never → 2026-12-01 00:00:00 UTC',
    'disabled: no → yes',
  ]);
  // No raw internals.
  expect(JSON.stringify(lines.map(({ label, before, after }) => [label, before, after]))).not.toMatch(/MicroCents|limitCents|perMinute|\{/);
  // An owner whose name was not kept reads as the id.
  expect(describeChanges({ ownerId: { before: 'u9', after: null } })[0]).toMatchObject({ before: 'u9', after: 'no owner' });
  expect(actionLabel('key.rotate')).toBe('Secret rotated');
  expect(actionLabel('custom.thing')).toBe('custom.thing');
});

test('a creation lists every value that was set, without a "before"; long ones are clipped', () => {
  const created = describeChanges({
    name: { before: null, after: 'k' },
    tags: { before: null, after: ['a', 'b'] },
    description: { before: null, after: '' },
    rateLimits: { before: null, after: { perMinute: null, perHour: null, perDay: null, perMonth: null } },
    expiresAt: { before: null, after: '2026-11-22T12:00:00.000Z' },
  });
  expect(created).toEqual([
    { field: 'name', label: 'name', before: null, after: 'k' },
    { field: 'tags', label: 'tags', before: null, after: 'a, b' },
    { field: 'expiresAt', label: 'expires', before: null, after: '2026-11-22 12:00:00 UTC' },
  ]);
  expect(describeChanges({ metadata: { before: { a: 'x'.repeat(300) }, after: {} } })[0]).toMatchObject({ after: '{}' });
  expect(describeChanges({ metadata: { before: { a: 'x'.repeat(300) }, after: {} } })[0].before).toHaveLength(160);
});

test('rows: every line kept, the rest folded under "+N more"; names beside ids; only live keys linked', () => {
  const changes = Object.fromEntries(
    ['name', 'description', 'scopes', 'tags', 'tier', 'allowedIps', 'allowedModels', 'usageLimit', 'budget'].map((f, i) => [f, { before: null, after: f === 'usageLimit' ? 100 : f === 'budget' ? { limitCents: 500, period: 'total' } : [`v${i}`] }]),
  );
  const [live, gone, byKey] = auditRows(
    [
      event({ action: 'key.create', changes }),
      event({ targetId: 'ZyXw9876VuTs', targetLabel: 'old key', action: 'key.delete' }),
      event({ actorType: 'api_key', actorId: 'KeyKeyKeyKey', actorLabel: 'ci deploy' }),
    ],
    new Set(['AbCd1234EfGh']),
  );
  expect(live.changes).toHaveLength(VISIBLE_CHANGES);
  expect(live.changes.length + live.more.length).toBe(9);
  expect(live.more.map((l) => `${l.label}: ${l.after}`)).toEqual(['allowed IPs: v5', 'allowed models: v6', 'request quota: 100 requests', 'budget: $5.00 in total']);
  expect(live.target).toEqual({ label: 'billing prod', id: 'AbCd1234EfGh', kind: 'key', href: '/keys/AbCd1234EfGh' });
  expect(gone.target).toEqual({ label: 'old key', id: 'ZyXw9876VuTs', kind: 'key', href: null });
  expect(byKey.actor).toEqual({ label: 'ci deploy', kind: 'API key' });
  expect(live.actor).toEqual({ label: 'ann@example.com', kind: 'person' });
});

test('the key filter takes the id, the displayed form, or a whole key', () => {
  expect(keyIdOfFilter('AbCd1234EfGh')).toBe('AbCd1234EfGh');
  expect(keyIdOfFilter(' kw_AbCd1234EfGh… ')).toBe('AbCd1234EfGh');
  expect(keyIdOfFilter('kw_AbCd1234EfGh...')).toBe('AbCd1234EfGh');
  expect(keyIdOfFilter('kw_AbCd1234EfGh…wxyz')).toBe('AbCd1234EfGh');
  expect(keyIdOfFilter('kw_AbCd1234EfGh')).toBe('AbCd1234EfGh');
  expect(keyIdOfFilter(`kw_AbCd1234EfGh_${'s'.repeat(49)}`)).toBe('AbCd1234EfGh');
  expect(keyIdOfFilter('billing prod')).toBeNull();
  expect(keyIdOfFilter('AbCd1234EfG')).toBeNull();
  expect(keyIdOfFilter("kw_AbCd1234EfGh' OR 1=1")).toBeNull();
});

test('governance fields read in human terms; a creation leaves their defaults out', () => {
  const lines = describeChanges({
    tokenLimits: { before: { perMinute: null, perDay: null }, after: { perMinute: 2000, perDay: 100000 } },
    maxConcurrentRequests: { before: null, after: 5 },
    usageLimitPeriod: { before: 'total', after: 'daily' },
    notifyOnNewIp: { before: false, after: true },
  });
  expect(lines.map((l) => `${l.label}: ${l.before} → ${l.after}`)).toEqual([
    'token limits: no token limits → 2,000 tokens/min, 100,000 tokens/day',
    'max concurrent requests: no limit → 5 at once',
    'quota period: total → daily',
    'new IP alert: no → yes',
  ]);
  expect(describeChanges({ tokenLimits: { before: { perMinute: 10, perDay: null }, after: { perMinute: null, perDay: 7 } } })[0]).toMatchObject({
    before: '10 tokens/min',
    after: '7 tokens/day',
  });

  const plain = describeChanges({
    name: { before: null, after: 'k' },
    tokenLimits: { before: null, after: { perMinute: null, perDay: null } },
    maxConcurrentRequests: { before: null, after: null },
    usageLimitPeriod: { before: null, after: 'total' },
    notifyOnNewIp: { before: null, after: false },
  });
  expect(plain.map((l) => l.field)).toEqual(['name']);
  const chosen = describeChanges({
    name: { before: null, after: 'k' },
    usageLimitPeriod: { before: null, after: 'monthly' },
    notifyOnNewIp: { before: null, after: true },
  });
  expect(chosen.map((l) => `${l.label}: ${l.after}`)).toEqual(['name: k', 'quota period: monthly', 'new IP alert: yes']);
});
