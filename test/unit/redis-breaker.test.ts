import { ReplyError } from 'ioredis';
import { CircuitOpenError, describeFailure, RedisBreaker } from '../../packages/guard/src/redis/redis-breaker';

const timedOut = () => Promise.reject(new Error('Command timed out'));
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function breakerWith(probe: () => Promise<unknown>, cooldownMs = 40) {
  const events: string[] = [];
  const breaker = new RedisBreaker({ failureThreshold: 3, cooldownMs, probe });
  breaker.onOpen(() => events.push('open'));
  breaker.onClose(() => events.push('close'));
  return { breaker, events };
}

describe('RedisBreaker', () => {
  it('opens after consecutive unanswered calls, then refuses at once without calling Redis', async () => {
    const { breaker, events } = breakerWith(() => new Promise(() => undefined), 60_000);
    for (let i = 0; i < 2; i += 1) await expect(breaker.run(timedOut)).rejects.toThrow('Command timed out');
    expect(breaker.state).toBe('closed');
    await expect(breaker.run(timedOut)).rejects.toThrow('Command timed out');
    expect(breaker.state).toBe('open');
    expect(events).toEqual(['open']);

    const operation = jest.fn(async () => 'answer');
    await expect(breaker.run(operation)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(operation).not.toHaveBeenCalled();
    expect(breaker.describe()).toMatch(/^circuit open for \d+\.\d s \(no answer\)$/);
    breaker.close();
  });

  it('counts only consecutive failures, and an error reply as an answer', async () => {
    const { breaker } = breakerWith(async () => 'PONG', 60_000);
    await expect(breaker.run(timedOut)).rejects.toThrow();
    await expect(breaker.run(timedOut)).rejects.toThrow();
    await expect(breaker.run(async () => 'ok')).resolves.toBe('ok');
    await expect(breaker.run(timedOut)).rejects.toThrow();
    await expect(breaker.run(timedOut)).rejects.toThrow();
    await expect(breaker.run(() => Promise.reject(new ReplyError('ERR script failed')))).rejects.toThrow('ERR script failed');
    await expect(breaker.run(timedOut)).rejects.toThrow();
    expect(breaker.state).toBe('closed');
    breaker.close();
  });

  it('probes after each cooldown, stays open (without announcing it again) while the probe fails, closes when it answers', async () => {
    let redisAnswers = false;
    const probe = jest.fn(async () => {
      if (!redisAnswers) throw new Error('Command timed out');
      return 'PONG';
    });
    const { breaker, events } = breakerWith(probe);
    for (let i = 0; i < 3; i += 1) await expect(breaker.run(timedOut)).rejects.toThrow();
    await wait(150);
    expect(probe.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(breaker.state).not.toBe('closed');
    expect(events).toEqual(['open']);

    redisAnswers = true;
    await wait(100);
    expect(breaker.state).toBe('closed');
    expect(events).toEqual(['open', 'close']);
    await expect(breaker.run(async () => 'ok')).resolves.toBe('ok');
    breaker.close();
  });

  it('says why in a few secret-free words', () => {
    expect(describeFailure(new CircuitOpenError())).toBe('circuit open');
    expect(describeFailure(Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:6379'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(describeFailure(new Error('Command timed out'))).toBe('no answer');
    expect(describeFailure(new Error("Stream isn't writeable"))).toBe('unreachable');
  });

  it('checks its options', () => {
    expect(() => new RedisBreaker({ failureThreshold: 0, cooldownMs: 10, probe: async () => 1 })).toThrow(/failureThreshold/);
    expect(() => new RedisBreaker({ failureThreshold: 1, cooldownMs: 0, probe: async () => 1 })).toThrow(/cooldownMs/);
  });
});
