/**
 * IP allowlists: validation and canonical form of entries (addresses or CIDR ranges, IPv4 and
 * IPv6) and fast matching of client addresses. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what
 * a dual-stack socket reports for IPv4 clients) are treated as the IPv4 address they carry.
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or -1 (the hot path of matching). */
function ipv4Number(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 46) {
      if (digits === 0 || part > 255) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots += 1;
    } else if (code >= 48 && code <= 57 && digits < 3) {
      if (digits > 0 && part === 0) return -1; // no leading zeros (octal ambiguity)
      part = part * 10 + (code - 48);
      digits += 1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return value * 256 + part;
}

function parseAddress(text: string): Address | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) {
    const address = ipaddr.IPv6.parse(text);
    return address.isIPv4MappedAddress() ? address.toIPv4Address() : address;
  }
  return null;
}

/**
 * The canonical form of an allowlist entry (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`), or null
 * when the entry is not an IPv4/IPv6 address or CIDR range. Host bits of a range are cleared.
 */
export function normalizeIpEntry(entry: string): string | null {
  const text = entry.trim();
  const slash = text.indexOf('/');
  if (slash === -1) return parseAddress(text)?.toString() ?? null;
  const bitsText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return null;
  let bits = Number(bitsText);
  let address = parseAddress(text.slice(0, slash));
  if (!address) return null;
  const raw = text.slice(0, slash);
  if (address.kind() === 'ipv4' && raw.includes(':')) {
    // ::ffff:10.0.0.0/104 is the IPv4 range 10.0.0.0/8.
    if (bits < 96) return null;
    bits -= 96;
  }
  if (bits > (address.kind() === 'ipv4' ? 32 : 128)) return null;
  address =
    address.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${bits}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${bits}`);
  return `${address.toString()}/${bits}`;
}

/** Tests client addresses against an allowlist; compile once per key, call per request. */
export interface IpMatcher {
  (clientIp: string | undefined): boolean;
}

/** Compiles canonical allowlist entries. An empty list allows every address. */
export function compileIpAllowlist(entries: readonly string[]): IpMatcher {
  if (entries.length === 0) return () => true;
  const ranges: [Address, number][] = [];
  // IPv4 ranges also as [network, mask] numbers, so IPv4 clients are matched without parsing objects.
  const v4: [number, number][] = [];
  for (const entry of entries) {
    const normalized = normalizeIpEntry(entry);
    if (!normalized) continue;
    const [addressText, bitsText] = normalized.split('/');
    const address = parseAddress(addressText) as Address;
    const bits = bitsText === undefined ? (address.kind() === 'ipv4' ? 32 : 128) : Number(bitsText);
    ranges.push([address, bits]);
    if (address.kind() === 'ipv4') {
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      v4.push([(ipv4Number(addressText) & mask) >>> 0, mask]);
    }
  }
  return (clientIp) => {
    if (!clientIp) return false;
    const plain = clientIp.startsWith('::ffff:') ? clientIp.slice(7) : clientIp;
    const number = ipv4Number(plain);
    if (number !== -1) return v4.some(([network, mask]) => ((number & mask) >>> 0) === network);
    const client = parseAddress(clientIp);
    if (!client) return false;
    for (const [range, bits] of ranges) {
      if (range.kind() === client.kind() && client.match(range as never, bits)) return true;
    }
    return false;
  };
}
