/**
 * Where webhooks may point. http/https only, no credentials, at most 2,000 characters, and (unless
 * WEBHOOK_ALLOW_PRIVATE=true) only public unicast addresses: a webhook must never become a way to
 * make Keyward call its own network (SSRF). Hostnames are resolved when a webhook is saved, and
 * again on every delivery through the connection's own lookup (guardedLookup), so a name that
 * later resolves to a private address (DNS rebinding) is refused at connect time.
 */
import dns from 'node:dns';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';

/** The longest webhook URL accepted. */
export const MAX_URL_LENGTH = 2000;
/** A saved webhook's hostname must resolve within this long. */
const LOOKUP_TIMEOUT_MS = 5000;

/** True for a public unicast address; false for private, loopback, link-local, CGNAT, multicast, reserved... */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  // Allow-list: every named range (private, loopback, linkLocal, uniqueLocal, carrierGradeNat,
  // multicast, unspecified, broadcast, reserved, 6to4/teredo that embed IPv4...) is refused.
  return parsed.range() === 'unicast';
}

/** The URL's problem without resolving names, or null. */
export function urlSyntaxProblem(text: string, allowPrivate: boolean): string | null {
  if (text.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute http or https URL, e.g. https://example.com/hooks/keyward';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username || url.password) return 'must not contain credentials (user:password@)';
  const host = hostOf(url);
  if (!allowPrivate && ipaddr.isValid(host) && !isPublicAddress(host)) return 'must not point to a private, loopback or otherwise non-public address';
  return null;
}

/** The URL's problem, resolving its hostname when private addresses are refused, or null. */
export async function urlProblem(text: string, allowPrivate: boolean): Promise<string | null> {
  const syntax = urlSyntaxProblem(text, allowPrivate);
  if (syntax || allowPrivate) return syntax;
  const host = hostOf(new URL(text));
  if (ipaddr.isValid(host)) return null;
  try {
    const addresses = await lookupAll(host);
    return addresses.every((a) => isPublicAddress(a.address)) ? null : 'resolves to a private, loopback or otherwise non-public address';
  } catch {
    return 'has a hostname that does not resolve';
  }
}

/** The hostname without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function lookupAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('lookup timed out')), LOOKUP_TIMEOUT_MS);
    dns.lookup(host, { all: true }, (error, addresses) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(addresses);
    });
  });
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that refuses the connection when any address the name resolves to
 * is not public: the check happens on the addresses actually connected to.
 */
export function guardedLookup(hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '');
    if (addresses.length === 0 || !addresses.every((a) => isPublicAddress(a.address))) {
      const refused = Object.assign(new Error('resolves to a non-public address'), { code: 'EPRIVATEADDRESS' });
      return callback(refused, '');
    }
    if ((options as LookupAllOptions).all) return callback(null, addresses);
    return callback(null, addresses[0].address, addresses[0].family);
  });
}
