import type { Request } from 'express';

/**
 * The presented key: `Authorization: Bearer <key>`, else `X-API-Key: <key>`. Keys in the query
 * string or in cookies are never read: they end up in logs, histories and referrers.
 */
export function presentedKey(req: Request): string | null {
  const authorization = req.headers.authorization;
  if (authorization) {
    // The common shape without a regular expression; anything unusual goes the careful way.
    if (authorization.startsWith('Bearer ') && authorization.indexOf(' ', 7) === -1 && authorization.length > 7) {
      return authorization.slice(7);
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (match) return match[1];
  }
  const header = req.headers['x-api-key'];
  const value = Array.isArray(header) ? header[0] : header;
  return value && value.trim() !== '' ? value.trim() : null;
}

/** The model a request asks for, by default: `model` of a JSON body. */
export function requestedModel(req: Request): string | undefined {
  const model = (req.body as { model?: unknown } | undefined)?.model;
  return typeof model === 'string' ? model : undefined;
}

/** The chatbot a request speaks for, by default: the `X-Chatbot-Id` header. */
export function requestedChatbot(req: Request): string | undefined {
  const header = req.headers['x-chatbot-id'];
  return typeof header === 'string' && header !== '' ? header : undefined;
}

/** The client address with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) written as plain IPv4. */
export function clientAddress(ip: string | undefined): string {
  if (!ip) return 'unknown';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * The client address for apps that trust no proxy: the socket's peer. Same as `req.ip` then,
 * without Express parsing X-Forwarded-For on every request.
 */
export function socketAddress(req: Request): string | undefined {
  return req.socket.remoteAddress;
}
