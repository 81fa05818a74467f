import type { KeywardMetrics } from './metrics';

/**
 * A new KeywardMetrics, loading prom-client (about 100 ms) only now: processes that serve no
 * /metrics (METRICS_TOKEN unset, the CLI) never pay for it.
 */
export function createMetrics(): KeywardMetrics {
  const { KeywardMetrics: Metrics } = require('./metrics') as typeof import('./metrics');
  return new Metrics();
}
