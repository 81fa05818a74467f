import { compileIpAllowlist, normalizeIpEntry } from '../../packages/guard/src/lib/ip';

describe('normalizeIpEntry', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    [' 10.1.2.3/8 ', '10.0.0.0/8'],
    ['2001:0db8:0000::0001', '2001:db8::1'],
    ['2001:db8::1/32', '2001:db8::/32'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['::/0', '::/0'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeIpEntry(input)).toBe(expected);
  });

  it.each(['', 'localhost', '1', '256.1.1.1', '10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/x', 'fe80::1%eth0', '::ffff:10.0.0.0/90'])(
    'rejects %p',
    (input) => {
      expect(normalizeIpEntry(input)).toBeNull();
    },
  );
});

describe('compileIpAllowlist', () => {
  it('allows everything when empty', () => {
    expect(compileIpAllowlist([])('203.0.113.9')).toBe(true);
  });

  it('matches IPv4 addresses and ranges, including IPv4-mapped IPv6 clients', () => {
    const allowed = compileIpAllowlist(['10.0.0.0/8', '192.0.2.7']);
    expect(allowed('10.200.3.4')).toBe(true);
    expect(allowed('::ffff:10.200.3.4')).toBe(true);
    expect(allowed('192.0.2.7')).toBe(true);
    expect(allowed('192.0.2.8')).toBe(false);
    expect(allowed('11.0.0.1')).toBe(false);
    expect(allowed(undefined)).toBe(false);
    expect(allowed('garbage')).toBe(false);
  });

  it('matches IPv6 ranges and never mixes families', () => {
    const allowed = compileIpAllowlist(['2001:db8::/32', '::1']);
    expect(allowed('2001:db8:1::5')).toBe(true);
    expect(allowed('::1')).toBe(true);
    expect(allowed('2001:db9::1')).toBe(false);
    expect(allowed('127.0.0.1')).toBe(false);
  });
});
