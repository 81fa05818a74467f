/**
 * A verify reservation travels as a signed token (its `reservationId`): it names every counter
 * the request reserved on, so any instance can settle it, with nothing kept in between. HMAC-SHA256
 * under a key derived from KEY_HASH_SECRET; a token changed in any byte, or made for another
 * tenant, is refused. It holds no secret: counters, amounts and the request's facts.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CounterKind, Reservation, Settles } from '@keyward/guard';

/** What a settlement needs to know of the verified request. */
export interface ReservationTicket {
  /** Unique per reservation: settles once. */
  id: string;
  tenantId: string;
  keyId: string;
  expiresAt: number;
  startedAt: number;
  ip: string;
  model: string | null;
  chatbot: string | null;
  bounds: { costMicroCents: number; tokens: number };
  budgetPeriodStart: number | null;
  /** A budget was claimed (the recorded cost is what budgets were charged). */
  budgeted: boolean;
  /** The counters still held, with how each is settled. */
  held: { settles: Settles; reservation: Reservation }[];
}

type Wire = [
  string,
  string,
  string,
  number,
  number,
  string,
  string | null,
  string | null,
  [number, number],
  number | null,
  0 | 1,
  [Settles, string, CounterKind, number, number, string | null][],
];

/** Signs and reads tickets. */
export class ReservationTokens {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHmac('sha256', secret).update('keyward:verify-reservation').digest();
  }

  sign(ticket: ReservationTicket): string {
    const wire: Wire = [
      ticket.id,
      ticket.tenantId,
      ticket.keyId,
      ticket.expiresAt,
      ticket.startedAt,
      ticket.ip,
      ticket.model,
      ticket.chatbot,
      [ticket.bounds.costMicroCents, ticket.bounds.tokens],
      ticket.budgetPeriodStart,
      ticket.budgeted ? 1 : 0,
      ticket.held.map(({ settles, reservation: r }) => [settles, r.keyId, r.kind, r.periodStart, r.amount, r.id ?? null]),
    ];
    const body = Buffer.from(JSON.stringify(wire)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  /** The ticket, or null when the token is not one this app signed. */
  read(token: string): ReservationTicket | null {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 4000) return null;
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const w = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Wire;
    return {
      id: w[0],
      tenantId: w[1],
      keyId: w[2],
      expiresAt: w[3],
      startedAt: w[4],
      ip: w[5],
      model: w[6],
      chatbot: w[7],
      bounds: { costMicroCents: w[8][0], tokens: w[8][1] },
      budgetPeriodStart: w[9],
      budgeted: w[10] === 1,
      held: w[11].map(([settles, keyId, kind, periodStart, amount, id]) => ({
        settles,
        reservation: { keyId, kind, periodStart, amount, ...(id === null ? {} : { id }) },
      })),
    };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
