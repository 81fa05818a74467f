/** The create/edit form ↔ key-service input. */
import { formErrors, formFieldOf, formValuesOf, keyInputFromForm, assertValidKeyForm } from '../../src/dashboard/key-form';
import { AppError } from '../../src/errors';
import { parseCreateKeyInput } from '../../src/keys/key-input';

const create = { mode: 'create' as const, chooseOwner: true, viewerId: 'me' };

test('turns typed values into the key input', () => {
  const { input, issues } = keyInputFromForm(
    {
      name: ' n ',
      tags: 'a, b\nc',
      allowedIps: '10.0.0.0/8 192.0.2.1,2001:db8::/32',
      allowedModels: ['m1', 'm2'],
      scopes: '',
      perMinute: '1,000',
      perHour: '',
      usageLimit: '',
      budgetPeriod: 'total',
      budgetAmount: '$7.5',
      expiry: 'date',
      expiresAt: '2030-01-31T12:30',
      ownerId: '',
    },
    create,
  );
  expect(issues).toEqual([]);
  expect(input).toMatchObject({
    name: ' n ',
    tags: ['a', 'b', 'c'],
    allowedIps: ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32'],
    allowedModels: ['m1', 'm2'],
    rateLimits: { perMinute: 1000, perHour: null, perDay: null, perMonth: null },
    usageLimit: null,
    budget: { limitCents: 750, period: 'total' },
    expiresAt: '2030-01-31T12:30:00Z',
    ownerId: null,
  });
  expect(input).not.toHaveProperty('scopes'); // the service's default ("api") applies
  expect(parseCreateKeyInput(input, new Date('2026-01-01T00:00:00Z')).scopes).toEqual(['api']);
});

test('members cannot choose an owner: new keys are theirs, edits leave the owner alone', () => {
  expect(keyInputFromForm({ name: 'x', ownerId: 'someone' }, { ...create, chooseOwner: false }).input.ownerId).toBe('me');
  expect(keyInputFromForm({ name: 'x', ownerId: 'someone' }, { mode: 'edit', chooseOwner: false, viewerId: 'me' }).input).not.toHaveProperty('ownerId');
});

test('reports the form\'s own issues together with the key service\'s', () => {
  try {
    assertValidKeyForm({ name: '', metadata: '{', budgetPeriod: 'monthly', budgetAmount: 'ten', perDay: '0' }, create, new Date());
    throw new Error('should have thrown');
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const errors = formErrors((error as AppError).details ?? []);
    expect(Object.keys(errors).sort()).toEqual(['budgetAmount', 'metadata', 'name', 'perDay']);
  }
});

test('maps service field paths to form fields', () => {
  expect(formFieldOf('rateLimits.perHour')).toBe('perHour');
  expect(formFieldOf('budget.limitCents')).toBe('budgetAmount');
  expect(formFieldOf('budget.period')).toBe('budgetPeriod');
  expect(formFieldOf('allowedIps.3')).toBe('allowedIps');
  expect(formErrors([{ field: 'tags.2', message: 'must not be blank' }])).toEqual({ tags: 'entry 3 must not be blank' });
});

test('an edited key shows its current values', () => {
  const values = formValuesOf({
    name: 'k',
    description: '',
    tags: ['a', 'b'],
    metadata: {},
    scopes: ['api'],
    allowedIps: ['10.0.0.0/8'],
    allowedModels: [],
    allowedChatbots: [],
    tier: 'pro',
    rateLimits: { perMinute: 5, perHour: null, perDay: null, perMonth: null },
    tokenLimits: { perMinute: null, perDay: null },
    maxConcurrentRequests: null,
    usageLimit: null,
    usageLimitPeriod: 'total',
    notifyOnNewIp: false,
    budget: { limitCents: 1205, period: 'monthly' },
    expiresAt: new Date('2030-01-31T12:30:00Z'),
    ownerId: null,
  } as never);
  expect(values).toMatchObject({ tags: 'a, b', perMinute: '5', perHour: '', budgetAmount: '12.05', budgetPeriod: 'monthly', expiry: 'keep', expiresAt: '2030-01-31T12:30' });
});

test('token limits, concurrency, quota period and the new-IP alert map both ways', () => {
  const { input, issues } = keyInputFromForm(
    { name: 'n', tokensPerMinute: '2,000', tokensPerDay: '', maxConcurrentRequests: '5', usageLimit: '10', usageLimitPeriod: 'daily', notifyOnNewIp: 'on' },
    create,
  );
  expect(issues).toEqual([]);
  expect(input).toMatchObject({
    tokenLimits: { perMinute: 2000, perDay: null },
    maxConcurrentRequests: 5,
    usageLimit: 10,
    usageLimitPeriod: 'daily',
    notifyOnNewIp: true,
  });
  // An unchecked box sends nothing: the alert is off.
  expect(keyInputFromForm({ name: 'n' }, create).input).toMatchObject({ notifyOnNewIp: false, usageLimitPeriod: 'total', maxConcurrentRequests: null });

  expect(formFieldOf('tokenLimits.perMinute')).toBe('tokensPerMinute');
  expect(formFieldOf('tokenLimits.perDay')).toBe('tokensPerDay');
  expect(formFieldOf('maxConcurrentRequests')).toBe('maxConcurrentRequests');

  const values = formValuesOf({
    name: 'k',
    tags: [],
    metadata: {},
    scopes: ['api'],
    allowedIps: [],
    allowedModels: [],
    allowedChatbots: [],
    rateLimits: { perMinute: null, perHour: null, perDay: null, perMonth: null },
    tokenLimits: { perMinute: null, perDay: 100000 },
    maxConcurrentRequests: 3,
    usageLimit: 7,
    usageLimitPeriod: 'monthly',
    notifyOnNewIp: true,
    budget: null,
    expiresAt: null,
    ownerId: null,
  } as never);
  expect(values).toMatchObject({ tokensPerMinute: '', tokensPerDay: '100000', maxConcurrentRequests: '3', usageLimitPeriod: 'monthly', notifyOnNewIp: 'on' });
  expect(formValuesOf(null)).toMatchObject({ usageLimitPeriod: 'total' });
});
