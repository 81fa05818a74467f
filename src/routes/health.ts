/**
 * GET /healthz: the state of each dependency, within a bounded time. A dependency the instance
 * cannot serve without (the database) makes it 503 `database_unavailable`; one it can work around
 * (Redis: limits fall back per REDIS_FAILURE_MODE) makes it "degraded" but still 200, so a load
 * balancer keeps routing to it.
 */
import { Router } from 'express';

/** One dependency's health: `check()` resolves with its state, or rejects when it is down. */
export interface HealthCheck {
  name: string;
  /** Critical dependencies turn the instance unhealthy (503); others only degrade it. */
  critical: boolean;
  check(): Promise<DependencyState>;
}

export interface DependencyState {
  status: 'up' | 'down' | 'degraded';
  /** A short, secret-free explanation (e.g. "circuit open for 1.4 s"). */
  detail?: string;
}

/** How long one check may take before it counts as down (the answer stays well under 2 s). */
const CHECK_TIMEOUT_MS = 1500;

/** Runs one check within CHECK_TIMEOUT_MS (then it counts as down); also used by GET /metrics. */
export function runHealthCheck(check: HealthCheck): Promise<DependencyState & { latencyMs: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<DependencyState>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'down', detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS);
  });
  const run = check.check().catch((error: unknown) => ({
    status: 'down' as const,
    detail: (error as { code?: string })?.code ?? 'unreachable',
  }));
  return Promise.race([run, timeout]).then((state) => {
    clearTimeout(timer);
    return { ...state, latencyMs: Date.now() - started };
  });
}

export function healthRouter(checks: readonly HealthCheck[]): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const states = await Promise.all(checks.map(runHealthCheck));
    const report = Object.fromEntries(checks.map((c, i) => [c.name, states[i]]));
    const criticalDown = checks.filter((c, i) => c.critical && states[i].status !== 'up');
    if (criticalDown.length > 0) {
      res.setHeader('Retry-After', '1');
      res.status(503).json({
        status: 'unavailable',
        checks: report,
        error: {
          code: 'database_unavailable',
          message: 'The database does not answer.',
          type: 'server_error',
        },
      });
      return;
    }
    const degraded = states.some((s) => s.status !== 'up');
    res.json({ status: degraded ? 'degraded' : 'ok', checks: report });
  });
  return router;
}
