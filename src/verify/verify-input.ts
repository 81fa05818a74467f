/**
 * What POST /api/v1/keys/verify and its settlement accept: the request to check as a service saw
 * it (the presented key, the client's address, model, chatbot, the scopes the service requires),
 * what it may use (cost, tokens), and whether to count it.
 */
import { z } from 'zod';
import { MAX_TOKEN_LIMIT } from '../keys/key-input';
import { normalizeIpEntry } from '@keyward/guard';
import { parseInput, wholeNumber } from '../lib/validation';

const text = (max: number) => z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
/** Most micro-cents a single verified request may reserve: $10,000. */
const MAX_COST_MICRO_CENTS = 1_000_000 * 1_000_000;

export const verifyRequestSchema = z.strictObject(
  {
    key: text(512),
    ip: text(64)
      .refine((ip) => normalizeIpEntry(ip) !== null && !ip.includes('/'), 'must be an IPv4 or IPv6 address, e.g. 203.0.113.7')
      .optional()
      .describe("The client's address, checked against the key's allowlist (default: the caller's)."),
    model: text(200).optional(),
    chatbot: text(200).optional(),
    scopes: z.array(text(100), { error: 'must be a list of scope names' }).max(20, 'must list at most 20 scopes').optional().describe('Scopes the request needs (default none).'),
    cost: z
      .strictObject({ microCents: wholeNumber(0, MAX_COST_MICRO_CENTS) }, { error: 'must be an object like {"microCents": 15000}' })
      .optional()
      .describe('The most the request may cost, reserved from every budget until settled.'),
    tokens: wholeNumber(0, MAX_TOKEN_LIMIT).optional().describe('The most tokens the request may use, reserved from token windows until settled.'),
    consume: z.boolean({ error: 'must be true or false' }).optional().describe('false: check without counting anything (default true).'),
  },
  { error: 'must be a JSON object like {"key": "kw_..."}' },
);

export const settleRequestSchema = z.strictObject(
  {
    costMicroCents: wholeNumber(0, MAX_COST_MICRO_CENTS),
    tokens: wholeNumber(0, MAX_TOKEN_LIMIT).optional(),
  },
  { error: 'must be a JSON object like {"costMicroCents": 1200, "tokens": 350}' },
);

export type VerifyRequest = z.output<typeof verifyRequestSchema>;
export type SettleRequest = z.output<typeof settleRequestSchema>;

export const parseVerifyRequest = (input: unknown): VerifyRequest => parseInput(verifyRequestSchema, input ?? {});
export const parseSettleRequest = (input: unknown): SettleRequest => parseInput(settleRequestSchema, input ?? {});
