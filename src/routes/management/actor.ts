import type { Request } from 'express';
import type { Actor } from '../../audit/audit-types';
import type { ChangeLimits } from '../../keys/key-authority';
import { type AuthenticatedKey, keyAuthority } from '@keyward/guard';

/** The calling key (the guard ran before every management route). */
export function callingKey(req: Request<object>): AuthenticatedKey {
  if (!req.apiKey) throw new Error('management route mounted without the API-key guard');
  return req.apiKey;
}

/** The audit actor of a management call: the calling key, its client address and user agent. */
export function keyActor(req: Request<object>): Actor {
  const key = callingKey(req);
  return { type: 'api_key', id: key.id, label: key.name, ip: req.ip ?? null, userAgent: req.get('user-agent') ?? null };
}

/** What a management call may do to keys: nothing beyond the calling key's own scopes. */
export function keyLimits(req: Request<object>): ChangeLimits {
  return { authority: keyAuthority(callingKey(req).scopes) };
}
