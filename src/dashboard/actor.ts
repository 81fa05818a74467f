import type { Request } from 'express';
import type { Actor } from '../audit/audit-types';
import { clientAddress } from '@keyward/guard';
import { viewerOf } from './viewer';

/** The client address as audit events and sign-in counters record it (IPv4-mapped IPv6 as IPv4). */
export function clientIp(req: Request): string {
  return clientAddress(req.ip);
}

/** The audit actor of a dashboard change: the signed-in person, their address and browser. */
export function userActor(req: Request): Actor {
  const { user } = viewerOf(req);
  return {
    type: 'user',
    id: user.id,
    label: user.email,
    ip: clientIp(req),
    userAgent: req.get('user-agent')?.slice(0, 500) ?? null,
  };
}
