/**
 * What the middleware derives from a stored key once and reuses while that record stays cached:
 * compiled IP allowlist, model and chatbot sets, effective limits, and the presented key strings
 * already verified against this very record. The derivations live in a WeakMap keyed by the
 * record object, so a changed key (a new record from the store) starts from scratch: a revoked or
 * regenerated key is never let through on an old verification.
 */
import type { KeyHasher } from '../keys/key-hasher';
import type { ApiKeyRecord, RateLimits } from '../keys/key-types';
import { type CredentialCheck, checkKeyState, matchSecret } from '../keys/key-verification';
import { effectiveRateLimits } from '../keys/tiers';
import { Interner } from '../lib/intern';
import { compileIpAllowlist, type IpMatcher } from '../lib/ip';
import type { AuthenticatedKey } from './authenticated-key';

export interface PreparedKey {
  ipAllowed: IpMatcher;
  models: ReadonlySet<string> | null;
  chatbots: ReadonlySet<string> | null;
  rateLimits: RateLimits;
  /** `req.apiKey.limits`, shared by every request of this record. */
  limits: AuthenticatedKey['limits'];
  /**
   * Presented strings whose HMAC matched this record's current secret (at most a few: the current
   * and, during a rotation, the previous secret are verified per request instead). Kept in memory
   * only, for as long as the record is cached; it spares the HMAC on every request of a busy key.
   */
  verified: Set<string>;
}

const prepared = new WeakMap<ApiKeyRecord, PreparedKey>();
const MAX_VERIFIED = 4;

// Keys mostly share their allowlists and limits: one compiled copy of each (see lib/intern.ts).
const matchers = new Interner<IpMatcher>();
const nameSets = new Interner<ReadonlySet<string>>();
const limitSets = new Interner<RateLimits>();
const ALLOW_ANY_IP: IpMatcher = () => true;

function nameSet(names: readonly string[]): ReadonlySet<string> | null {
  return names.length > 0 ? nameSets.get(names.join('\n'), () => new Set(names)) : null;
}

export function prepare(record: ApiKeyRecord): PreparedKey {
  let entry = prepared.get(record);
  if (!entry) {
    const { tier, rateLimits: overrides } = record;
    const rateLimits = limitSets.get(`${tier} ${overrides.perMinute} ${overrides.perHour} ${overrides.perDay} ${overrides.perMonth}`, () =>
      Object.freeze(effectiveRateLimits(tier, overrides)),
    );
    const ips = record.allowedIps;
    entry = {
      ipAllowed: ips.length === 0 ? ALLOW_ANY_IP : matchers.get(ips.join('\n'), () => compileIpAllowlist(ips)),
      models: nameSet(record.allowedModels),
      chatbots: nameSet(record.allowedChatbots),
      rateLimits,
      limits: {
        rateLimits,
        usageLimit: record.usageLimit,
        budget: record.budget,
        allowedModels: record.allowedModels,
        allowedIps: record.allowedIps,
      },
      verified: new Set(),
    };
    prepared.set(record, entry);
  }
  return entry;
}

/**
 * checkCredential() with a memo: a presented string that already matched this record's current
 * secret skips the HMAC. Status and expiry are always checked, at `now`. A null record (unknown
 * id) is refused like a wrong secret, after the same HMAC work when `lookedUp` (a well-formed key
 * whose id was looked up), so response times do not tell which ids exist.
 */
export function verifyPresented(
  record: ApiKeyRecord | null,
  info: PreparedKey | null,
  presented: string,
  hasher: KeyHasher,
  now: number,
  lookedUp = false,
): CredentialCheck {
  if (!record || !info) {
    if (lookedUp) hasher.matchesNothing(presented);
    return { ok: false, code: 'invalid_api_key' };
  }
  if (info.verified.has(presented)) return checkKeyState(record, 'current', now);
  const matched = matchSecret(record, presented, hasher);
  if (!matched) return { ok: false, code: 'invalid_api_key' };
  if (matched === 'current' && info.verified.size < MAX_VERIFIED) info.verified.add(presented);
  return checkKeyState(record, matched, now);
}
