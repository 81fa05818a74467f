import { SecretBox } from '../../src/dashboard/secret-box';

test('seals and opens; another key or a changed box gives nothing', () => {
  const box = new SecretBox('a session secret of at least thirty-two characters');
  const sealed = box.seal('kw_secret');
  expect(sealed).not.toContain('kw_secret');
  expect(box.open(sealed)).toBe('kw_secret');
  expect(new SecretBox('another session secret, also thirty-two characters').open(sealed)).toBeNull();
  const [iv, tag, body] = sealed.split('.');
  expect(box.open([iv, tag, `${body.slice(0, -2)}AA`].join('.'))).toBeNull();
  expect(box.open('garbage')).toBeNull();
});
