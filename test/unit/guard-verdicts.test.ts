import { GuardVerdicts } from '../../src/observability/guard-verdicts';

describe('GuardVerdicts', () => {
  it('keeps a refusal noted for a request in flight until it ends', () => {
    const verdicts = new GuardVerdicts();
    verdicts.begin('r1');
    verdicts.note('r1', { keyId: 'AbCd1234EfGh', outcome: 'rate_limited' });
    expect(verdicts.get('r1')).toEqual({ keyId: 'AbCd1234EfGh', outcome: 'rate_limited' });
    verdicts.end('r1');
    expect(verdicts.get('r1')).toBeNull();
    expect(verdicts.size).toBe(0);
  });

  it('ignores notes for requests not in flight (a guard event after the request ended)', () => {
    const verdicts = new GuardVerdicts();
    verdicts.note('r1', { keyId: 'AbCd1234EfGh', outcome: 'invalid_request' });
    verdicts.note(null, { keyId: 'AbCd1234EfGh', outcome: 'invalid_request' });
    verdicts.begin('r1');
    expect(verdicts.get('r1')).toBeNull();
  });

  it('gives no verdict to requests that shared an id while in flight, until all of them ended', () => {
    const verdicts = new GuardVerdicts();
    verdicts.begin('same');
    verdicts.note('same', { keyId: 'AAAAAAAAAAAA', outcome: 'ip_not_allowed' });
    verdicts.begin('same');
    expect(verdicts.get('same')).toBeNull();
    verdicts.end('same');
    // The one left might be told the other's late event: still nothing.
    verdicts.note('same', { keyId: 'AAAAAAAAAAAA', outcome: 'invalid_request' });
    expect(verdicts.get('same')).toBeNull();
    verdicts.end('same');
    expect(verdicts.size).toBe(0);
    verdicts.begin('same');
    verdicts.note('same', { keyId: 'BBBBBBBBBBBB', outcome: 'key_revoked' });
    expect(verdicts.get('same')).toEqual({ keyId: 'BBBBBBBBBBBB', outcome: 'key_revoked' });
  });
});
