import { generatePassword, PasswordHasher } from '../../src/auth/password';

describe('PasswordHasher', () => {
  it('hashes with scrypt at OWASP cost by default (N=2^17, r=8, p=1)', async () => {
    const stored = await new PasswordHasher().hash('correct horse battery staple');
    expect(stored).toMatch(/^scrypt\$17\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  });

  it('verifies the right password only, and salts every hash', async () => {
    const hasher = new PasswordHasher({ log2N: 10 });
    const stored = await hasher.hash('correct horse battery staple');
    expect(await hasher.verify('correct horse battery staple', stored)).toBe(true);
    expect(await hasher.verify('correct horse battery stapler', stored)).toBe(false);
    expect(await hasher.hash('correct horse battery staple')).not.toBe(stored);
  });

  it('verifies hashes made at another cost, and refuses malformed or absurd ones', async () => {
    const cheap = await new PasswordHasher({ log2N: 10 }).hash('pw pw pw pw pw');
    expect(await new PasswordHasher().verify('pw pw pw pw pw', cheap)).toBe(true);
    const hasher = new PasswordHasher({ log2N: 10 });
    expect(await hasher.verify('x', 'plaintext')).toBe(false);
    expect(await hasher.verify('x', 'scrypt$40$8$1$c2FsdA$aGFzaA')).toBe(false);
    expect(await hasher.verify('x'.repeat(300), cheap)).toBe(false);
  });

  it('generates strong random passwords', () => {
    const passwords = new Set(Array.from({ length: 100 }, generatePassword));
    expect(passwords.size).toBe(100);
    for (const password of passwords) expect(password).toMatch(/^[\w-]{24}$/);
  });
});
