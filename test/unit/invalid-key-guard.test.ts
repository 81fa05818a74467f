import { RateLimiterMemory } from 'rate-limiter-flexible';
import { InvalidKeyGuard } from '../../packages/guard/src/limits/invalid-key-guard';

const limiter = () => new RateLimiterMemory({ keyPrefix: `t${Math.random()}`, points: 3, duration: 60, blockDuration: 300 });

describe('InvalidKeyGuard', () => {
  it('blocks an address past the threshold, and clean addresses are not looked up', async () => {
    const guard = new InvalidKeyGuard(limiter());
    expect(guard.mayBeBlocked('10.0.0.1')).toBe(false);
    for (let i = 0; i < 3; i++) expect(await guard.recordFailure('10.0.0.1')).toBe(0);
    expect(await guard.recordFailure('10.0.0.1')).toBeGreaterThan(0);
    expect(guard.mayBeBlocked('10.0.0.1')).toBe(true);
    expect(await guard.blockedForMs('10.0.0.1')).toBeGreaterThan(0);
    expect(guard.mayBeBlocked('10.0.0.2')).toBe(false);
  });

  it('flooding distinct addresses cannot make it forget a blocked one, and memory stays bounded', async () => {
    const guard = new InvalidKeyGuard(limiter(), Date.now, 1000);
    for (let i = 0; i < 4; i++) await guard.recordFailure('203.0.113.7');
    expect(await guard.blockedForMs('203.0.113.7')).toBeGreaterThan(0);
    // 5,000 other addresses fail once each: five times what the guard remembers.
    for (let i = 0; i < 5000; i++) await guard.recordFailure(`2001:db8::${i.toString(16)}`);
    expect((guard as unknown as { suspects: Map<string, number> }).suspects.size).toBeLessThanOrEqual(1000);
    expect(guard.mayBeBlocked('203.0.113.7')).toBe(true);
    expect(await guard.blockedForMs('203.0.113.7')).toBeGreaterThan(0);
    // While full, every address is checked (an address it could not remember is still counted).
    expect(guard.overflowing()).toBe(true);
    expect(guard.mayBeBlocked('198.51.100.1')).toBe(true);
    expect(await guard.blockedForMs('198.51.100.1')).toBe(0);
  });
});
