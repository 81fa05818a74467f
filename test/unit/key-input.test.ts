import { AppError } from '../../src/errors';
import { parseCreateKeyInput, parseKeyListQuery, parseRotateInput, parseUpdateKeyInput } from '../../src/keys/key-input';

const NOW = new Date('2026-11-22T12:00:00Z');

function fieldErrors(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const appError = error as AppError;
    expect(appError.status).toBe(400);
    expect(appError.code).toBe('validation_error');
    return Object.fromEntries((appError.details ?? []).map((d) => [d.field, d.message]));
  }
  throw new Error('expected a validation error');
}

describe('parseCreateKeyInput', () => {
  it('fills defaults: scopes ["api"], tier free, no limits, no expiry', () => {
    expect(parseCreateKeyInput({ name: '  Production  ' }, NOW)).toEqual({
      name: 'Production',
      description: '',
      scopes: ['api'],
      tags: [],
      metadata: {},
      tier: 'free',
      rateLimits: { perMinute: null, perHour: null, perDay: null, perMonth: null },
      allowedIps: [],
      allowedModels: [],
      allowedChatbots: [],
      tokenLimits: { perMinute: null, perDay: null },
      maxConcurrentRequests: null,
      usageLimit: null,
      usageLimitPeriod: 'total',
      notifyOnNewIp: false,
      budget: null,
      expiresAt: null,
      ownerId: null,
    });
  });

  it('keeps every option, normalising IPs and removing duplicates', () => {
    const settings = parseCreateKeyInput(
      {
        name: 'Full',
        description: 'All options',
        scopes: ['api', 'keys:read', 'api'],
        tags: ['prod', 'team-a', 'prod'],
        metadata: { team: 'a', nested: { n: 1 } },
        tier: 'pro',
        rateLimits: { perMinute: 5, perMonth: 1000 },
        allowedIps: ['10.1.2.3/8', '::ffff:192.0.2.1', '2001:db8::/32'],
        allowedModels: ['gpt-4o-mini'],
        allowedChatbots: ['support-bot'],
        usageLimit: 500,
        budget: { limitCents: 1000, period: 'monthly' },
        expiresInDays: 30,
        ownerId: 'user1',
      },
      NOW,
    );
    expect(settings).toMatchObject({
      scopes: ['api', 'keys:read'],
      tags: ['prod', 'team-a'],
      tier: 'pro',
      rateLimits: { perMinute: 5, perHour: null, perDay: null, perMonth: 1000 },
      allowedIps: ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32'],
      budget: { limitCents: 1000, period: 'monthly' },
      expiresAt: new Date('2026-12-22T12:00:00Z'),
    });
  });

  it('names every bad field at once', () => {
    const errors = fieldErrors(() =>
      parseCreateKeyInput(
        {
          name: '   ',
          description: 'd'.repeat(501),
          scopes: ['Bad Scope'],
          tags: Array.from({ length: 21 }, (_, i) => `t${i}`),
          metadata: { big: 'x'.repeat(5000) },
          tier: 'gold',
          rateLimits: { perMinute: 0, perHour: 100_001, perDay: 1.5, perWeek: 3 },
          allowedIps: ['10.0.0.0/8', 'not-an-ip'],
          allowedModels: [''],
          allowedChatbots: 'bot',
          usageLimit: 0,
          budget: { limitCents: -1, period: 'weekly' },
          expiresAt: 'tomorrow',
          ownerId: 7,
          colour: 'blue',
        },
        NOW,
      ),
    );
    expect(Object.keys(errors).sort()).toEqual(
      [
        'name',
        'description',
        'scopes.0',
        'tags',
        'metadata',
        'tier',
        'rateLimits.perMinute',
        'rateLimits.perHour',
        'rateLimits.perDay',
        'rateLimits.perWeek',
        'allowedIps.1',
        'allowedModels.0',
        'allowedChatbots',
        'usageLimit',
        'budget.limitCents',
        'budget.period',
        'expiresAt',
        'ownerId',
        'colour',
      ].sort(),
    );
    expect(errors.name).toBe('must not be blank');
    expect(errors['allowedIps.1']).toMatch(/"not-an-ip" is not an IPv4\/IPv6 address or CIDR range/);
    expect(errors['rateLimits.perHour']).toBe('must be at most 100,000');
    expect(errors.colour).toBe('is not a known field');
  });

  it('requires a name and a JSON object', () => {
    expect(fieldErrors(() => parseCreateKeyInput({}, NOW))).toEqual({ name: 'is required' });
    expect(Object.keys(fieldErrors(() => parseCreateKeyInput([], NOW)))).toEqual(['(body)']);
  });

  it('refuses a past expiry, an expiry beyond 365 days, and both expiry forms', () => {
    expect(fieldErrors(() => parseCreateKeyInput({ name: 'x', expiresAt: '2026-11-01T00:00:00Z' }, NOW))).toEqual({
      expiresAt: 'must be in the future',
    });
    expect(fieldErrors(() => parseCreateKeyInput({ name: 'x', expiresInDays: 366 }, NOW))).toEqual({
      expiresInDays: 'must be at most 365',
    });
    expect(
      fieldErrors(() => parseCreateKeyInput({ name: 'x', expiresInDays: 3, expiresAt: '2027-01-01T00:00:00Z' }, NOW)),
    ).toEqual({ expiresInDays: 'cannot be combined with expiresAt' });
  });

  it('accepts limits up to the documented maxima', () => {
    const settings = parseCreateKeyInput(
      { name: 'max', rateLimits: { perMinute: 10_000, perHour: 100_000, perDay: 1_000_000 } },
      NOW,
    );
    expect(settings.rateLimits).toMatchObject({ perMinute: 10_000, perHour: 100_000, perDay: 1_000_000 });
    expect(fieldErrors(() => parseCreateKeyInput({ name: 'x', rateLimits: { perMinute: 10_001 } }, NOW))).toEqual({
      'rateLimits.perMinute': 'must be at most 10,000',
    });
  });

  it('accepts metadata up to 4 KB only', () => {
    expect(parseCreateKeyInput({ name: 'x', metadata: { v: 'x'.repeat(4000) } }, NOW).metadata.v).toHaveLength(4000);
    expect(fieldErrors(() => parseCreateKeyInput({ name: 'x', metadata: ['a'] }, NOW))).toHaveProperty('metadata');
  });
});

describe('parseUpdateKeyInput', () => {
  it('returns only the fields present; null clears nullable ones', () => {
    expect(parseUpdateKeyInput({ description: 'new', usageLimit: null, budget: null, expiresAt: null }, NOW)).toEqual({
      description: 'new',
      usageLimit: null,
      budget: null,
      expiresAt: null,
    });
    expect(parseUpdateKeyInput({ rateLimits: { perHour: null } }, NOW)).toEqual({ rateLimits: { perHour: null } });
    expect(parseUpdateKeyInput({}, NOW)).toEqual({});
  });

  it('validates like create', () => {
    expect(fieldErrors(() => parseUpdateKeyInput({ name: '', tier: 'x' }, NOW))).toEqual({
      name: 'must not be blank',
      tier: 'must be one of free, pro, enterprise',
    });
  });
});

describe('list and rotate input', () => {
  it('reads query-string pagination with defaults and bounds', () => {
    expect(parseKeyListQuery({})).toMatchObject({ page: 1, size: 20 });
    expect(parseKeyListQuery({ page: '3', size: '100', status: 'expired', search: ' prod ' })).toMatchObject({
      page: 3,
      size: 100,
      status: 'expired',
      search: 'prod',
    });
    expect(fieldErrors(() => parseKeyListQuery({ size: '101', page: '0', status: 'gone' }))).toEqual({
      size: 'must be at most 100',
      page: 'must be at least 1',
      status: expect.stringMatching(/must be one of active, inactive, revoked, expired/),
    });
  });

  it('bounds the rotation grace period to 0 s - 7 days', () => {
    expect(parseRotateInput({ gracePeriodSeconds: 0 })).toEqual({ gracePeriodSeconds: 0 });
    expect(parseRotateInput({ gracePeriodSeconds: 604_800 })).toEqual({ gracePeriodSeconds: 604_800 });
    expect(fieldErrors(() => parseRotateInput({ gracePeriodSeconds: 604_801 }))).toEqual({
      gracePeriodSeconds: 'must be at most 604,800',
    });
    expect(fieldErrors(() => parseRotateInput({}))).toHaveProperty('gracePeriodSeconds');
  });
});
