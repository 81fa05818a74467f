/**
 * X-Forwarded-For made safe to read before anything reads `req.ip`. Express (proxy-addr) walks
 * the header from the right while the hops are trusted and returns the first untrusted entry as
 * it is, even `<x>` or `unknown`: a client able to put text in a trusted position (directly on a
 * trusted network, or through a proxy that passes the header on) could send a new value on
 * every request and be a new "address" to the invalid-key and sign-in counters each time.
 *
 * So the header is cut at its rightmost entry that is not an IP address: only entries to its
 * right are kept, and the client address becomes the last address a trusted hop vouched for (or
 * the last trusted proxy itself). Entries kept are written canonically (lower case, compressed
 * IPv6, ports removed), so one address cannot pose as many either.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import ipaddr from 'ipaddr.js';
import type { TrustProxy } from '../config';

const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;
const BRACKETED_IPV6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/;
const BARE_IPV6 = /^[0-9A-Fa-f:.]+$/;

function validPort(port: string | undefined): boolean {
  return port === undefined || Number(port) <= 65_535;
}

/**
 * One X-Forwarded-For entry as a canonical address, or null when it is not an IP address.
 * Accepted: dotted-quad IPv4 (`203.0.113.7`, no leading zeros or short forms like `127.1`), IPv6
 * (`2001:db8::1`), either with a port (`203.0.113.7:443`, `[2001:db8::1]:443`, as some load
 * balancers write them) and `[2001:db8::1]`. IPv6 zone ids are refused. IPv4-mapped IPv6 keeps
 * the `::ffff:a.b.c.d` form Node gives sockets, which the rest of the app already reads as IPv4.
 */
export function forwardedAddress(entry: string): string | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(entry)) return ipaddr.IPv4.parse(entry).toString();
  const v4 = IPV4_WITH_PORT.exec(entry);
  if (v4) return ipaddr.IPv4.isValidFourPartDecimal(v4[1]) && validPort(v4[2]) ? ipaddr.IPv4.parse(v4[1]).toString() : null;
  const bracketed = BRACKETED_IPV6.exec(entry);
  if (bracketed) return validPort(bracketed[2]) ? ipv6(bracketed[1]) : null;
  return BARE_IPV6.test(entry) ? ipv6(entry) : null;
}

function ipv6(text: string): string | null {
  if (!ipaddr.IPv6.isValid(text)) return null;
  const address = ipaddr.IPv6.parse(text);
  return address.isIPv4MappedAddress() ? `::ffff:${address.toIPv4Address().toString()}` : address.toString();
}

/**
 * The X-Forwarded-For value to keep: the entries right of the rightmost one that is not an IP
 * address, canonical, in their order (empty when the last entry is not an address).
 */
export function trustworthyForwardedFor(header: string): string {
  const kept: string[] = [];
  const entries = header.split(',');
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i].trim();
    if (entry === '') continue; // "a,,b": proxy-addr skips empty entries too
    const address = forwardedAddress(entry);
    if (address === null) break;
    kept.push(address);
  }
  return kept.reverse().join(', ');
}

/**
 * Rewrites X-Forwarded-For with trustworthyForwardedFor() when Express trusts proxies (`trust
 * proxy` from TRUST_PROXY); without trusted proxies Express ignores the header and so does this.
 * Mount it first, before anything reads `req.ip`.
 */
export function forwardedForCleanup(trustProxy: TrustProxy): RequestHandler {
  const trusted = trustProxy !== false;
  if (trusted && !(Array.isArray(trustProxy) || (Number.isInteger(trustProxy) && trustProxy >= 0))) {
    throw new TypeError('forwardedForCleanup: trustProxy must be false, a hop count or a list of proxy addresses, as config.trustProxy.');
  }
  return function forwardedForCleanupMiddleware(req: Request, _res: Response, next: NextFunction): void {
    const header = req.headers['x-forwarded-for'];
    if (trusted && header !== undefined) {
      const kept = trustworthyForwardedFor(Array.isArray(header) ? header.join(',') : header);
      if (kept === '') delete req.headers['x-forwarded-for'];
      else req.headers['x-forwarded-for'] = kept;
    }
    next();
  };
}
