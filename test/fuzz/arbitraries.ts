/**
 * fast-check generators for hostile request bodies: JSON of any shape with the values that broke
 * the data layer before (NUL characters, unpaired surrogates, "$"-keys, prototype keys, very deep
 * nesting, numbers out of range), mixed with nearly valid bodies so the checks behind the first
 * field are reached too. Bodies are produced as JSON text, so own "__proto__" keys survive.
 */
import fc from 'fast-check';

/** Runs per property: a few hundred in `npm test`, FUZZ_RUNS (10,000 in `npm run fuzz`) otherwise. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

const specialKeys = fc.constantFrom('$type', '$ref', '__proto__', 'constructor', 'prototype', '', 'name', 'metadata', 'x\u0000', '\ud800');

/** Strings of every kind, including the ones databases refuse. */
export const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('\ud800', 'a\udc00b', '\u0000', '%', '_', '\\', 'kw_', '10.0.0.0/8', '::1', 'admin', 'keys:write') },
);

/** A JSON value as text, any shape, with hostile keys, strings and numbers. */
export const anyJsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant('null'),
    fc.boolean().map(String),
    fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map((n) => JSON.stringify(n)),
    fc.constantFrom('1e400', '-1e400', '1e-400', '12345678901234567890123', '-0'),
    anyString.map((s) => JSON.stringify(s)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(fc.oneof(anyString, specialKeys), tie('value')), { maxLength: 4 })
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
    fc.integer({ min: 15, max: 5000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
    fc.integer({ min: 15, max: 3000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  ),
})).value;

/** An object body as JSON text: chosen fields with plausible or hostile values. */
export function objectText(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const entries = Object.entries(fields).map(([name, value]) =>
    fc.option(fc.oneof({ weight: 3, arbitrary: value }, { weight: 1, arbitrary: anyJsonText }), { nil: undefined }).map((v) => (v === undefined ? null : `${JSON.stringify(name)}:${v}`)),
  );
  const extra = fc.option(fc.tuple(fc.oneof(anyString, specialKeys), anyJsonText), { nil: undefined });
  return fc.tuple(fc.tuple(...entries), extra).map(([chosen, more]) => {
    const parts = chosen.filter((p): p is string => p !== null);
    if (more) parts.push(`${JSON.stringify(more[0])}:${more[1]}`);
    return `{${parts.join(',')}}`;
  });
}

const json = <T>(arb: fc.Arbitrary<T>) => arb.map((v) => JSON.stringify(v));

/** Create and update bodies of keys. */
export const keyBodyText = fc.oneof(
  { weight: 4, arbitrary: objectText({
    name: json(fc.oneof(anyString, fc.constant('fuzzed key'))),
    description: json(anyString),
    scopes: json(fc.array(fc.oneof(anyString, fc.constantFrom('api', 'admin', 'keys:read')), { maxLength: 3 })),
    tags: json(fc.array(anyString, { maxLength: 3 })),
    metadata: anyJsonText,
    tier: json(fc.oneof(fc.constantFrom('free', 'pro', 'enterprise'), anyString)),
    rateLimits: objectText({ perMinute: json(fc.integer()), perHour: json(fc.integer()), perDay: json(fc.double()), perMonth: json(fc.integer()) }),
    allowedIps: json(fc.array(fc.oneof(anyString, fc.ipV4(), fc.ipV6(), fc.constant('10.0.0.0/8')), { maxLength: 3 })),
    allowedModels: json(fc.array(anyString, { maxLength: 3 })),
    usageLimit: json(fc.oneof(fc.integer(), fc.constant(null))),
    usageLimitPeriod: json(fc.oneof(fc.constantFrom('total', 'daily', 'monthly'), anyString)),
    // Around the 1e12 ceiling and past 2^53, where a number stops being a safe integer.
    tokenLimits: fc.oneof(
      fc.constant('null'),
      objectText({
        perMinute: json(fc.oneof(fc.integer(), fc.constant(null))),
        perDay: fc.oneof(
          json(fc.integer({ min: 999_999_999_990, max: 1_000_000_000_010 })),
          json(fc.double()),
          fc.constantFrom('9007199254740993', '1e12', '1e13'),
        ),
      }),
    ),
    maxConcurrentRequests: json(fc.oneof(fc.integer({ min: -2, max: 100_002 }), fc.integer(), fc.constant(null), fc.double())),
    notifyOnNewIp: json(fc.oneof(fc.boolean(), anyString, fc.constant(null))),
    budget: objectText({ limitCents: json(fc.integer()), period: json(fc.oneof(fc.constantFrom('total', 'monthly'), anyString)) }),
    expiresAt: json(fc.oneof(anyString, fc.date({ noInvalidDate: true }).map((d) => d.toISOString()))),
    expiresInDays: json(fc.integer({ min: -5, max: 400 })),
    ownerId: json(anyString),
  }) },
  { weight: 1, arbitrary: anyJsonText },
);

const contentPart = objectText({ type: json(fc.oneof(fc.constantFrom('text', 'image_url'), anyString)), text: json(anyString) });
const message = objectText({
  role: json(fc.oneof(fc.constantFrom('user', 'system', 'assistant', 'tool', 'developer'), anyString)),
  content: fc.oneof(json(anyString), fc.constant('null'), fc.array(contentPart, { maxLength: 3 }).map((parts) => `[${parts.join(',')}]`)),
  name: json(anyString),
});

/** Chat completion bodies. */
export const chatBodyText = fc.oneof(
  { weight: 4, arbitrary: objectText({
    model: json(fc.oneof(fc.constantFrom('local-small', 'local-large'), anyString)),
    messages: fc.array(message, { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
    max_tokens: json(fc.oneof(fc.integer({ min: -10, max: 5000 }), fc.constant(null), fc.double())),
    max_completion_tokens: json(fc.integer({ min: -10, max: 100 })),
    stream: json(fc.oneof(fc.boolean(), anyString)),
    stream_options: objectText({ include_usage: json(fc.oneof(fc.boolean(), anyString)) }),
    n: json(fc.integer({ min: -1, max: 3 })),
    tools: anyJsonText,
  }) },
  { weight: 1, arbitrary: anyJsonText },
);

/** Authorization header values a client can send (HTTP allows tab, space to ~ and 0x80-0xFF). */
export function authorizationValue(validKey: string): fc.Arbitrary<string> {
  const headerChar = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));
  const headerText = fc.string({ unit: headerChar, maxLength: 120 });
  const mutated = fc
    .tuple(fc.nat({ max: validKey.length - 1 }), fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)))
    .map(([i, c]) => `${validKey.slice(0, i)}${c}${validKey.slice(i + 1)}`);
  return fc.oneof(
    headerText,
    headerText.map((s) => `Bearer ${s}`),
    mutated.map((k) => `Bearer ${k}`),
    fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Token'), fc.constantFrom(' ', '  ', '\t', ''), mutated).map(([a, b, c]) => `${a}${b}${c}`),
    fc.constant(`Bearer ${validKey}`),
  ).map((value) => value.trim() === value ? value : value.trim());
}
