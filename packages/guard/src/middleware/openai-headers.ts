/**
 * OpenAI's rate-limit headers, beside the IETF `RateLimit` ones, so clients written for OpenAI
 * (dashboards, SDK wrappers, gateways) read Keyward's limits unchanged:
 * `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`
 * for the most constrained request window, and the `-tokens` variants for token windows.
 */
import type { HeaderSink } from './attempt';

/** One window as OpenAI's headers describe it. */
export interface OpenAiWindow {
  limit: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

/**
 * A duration in OpenAI's (Go's) format: `250ms` below a second, else `1s`, `6m0s`, `1h2m3s`
 * (whole seconds, rounded up: a client waiting that long finds the window reset).
 */
export function openAiDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** The most constrained window: fewest remaining, the later reset on a tie (as the IETF header picks). */
function tightest(windows: readonly OpenAiWindow[]): OpenAiWindow | undefined {
  let pick: OpenAiWindow | undefined;
  for (const w of windows) {
    if (!pick || w.remaining < pick.remaining || (w.remaining === pick.remaining && w.resetMs > pick.resetMs)) pick = w;
  }
  return pick;
}

function setWindowHeaders(res: HeaderSink, unit: 'requests' | 'tokens', windows: readonly OpenAiWindow[]): void {
  const w = tightest(windows);
  if (!w) return;
  res.setHeader(`x-ratelimit-limit-${unit}`, String(w.limit));
  res.setHeader(`x-ratelimit-remaining-${unit}`, String(Math.max(0, w.remaining)));
  res.setHeader(`x-ratelimit-reset-${unit}`, openAiDuration(w.resetMs));
}

/** Sets the `-requests` headers from the key's request windows (nothing when there are none). */
export function setOpenAiRequestHeaders(res: HeaderSink, windows: readonly OpenAiWindow[]): void {
  setWindowHeaders(res, 'requests', windows);
}

/** Sets the `-tokens` headers from the key's token windows (nothing when it has none). */
export function setOpenAiTokenHeaders(res: HeaderSink, windows: readonly OpenAiWindow[]): void {
  setWindowHeaders(res, 'tokens', windows);
}
