/**
 * What a key change writes into its audit event: the settings a new key starts with, and the
 * before/after of the fields a change touched (settings, status, credential metadata, or the
 * usage counters of a reset). Also how a partial update merges into the stored settings.
 */
import { type AuditChanges, diffFields, toAuditValue } from '../audit/audit-types';
import type { KeySettingsPatch } from './key-input';
import type { ApiKeyRecord, KeySettings } from '@keyward/guard';

/** Every setting of a key, in the order audit events list them. */
export const SETTINGS_FIELDS = [
  'name',
  'description',
  'scopes',
  'tags',
  'metadata',
  'tier',
  'rateLimits',
  'tokenLimits',
  'maxConcurrentRequests',
  'allowedIps',
  'allowedModels',
  'allowedChatbots',
  'usageLimit',
  'usageLimitPeriod',
  'budget',
  'notifyOnNewIp',
  'expiresAt',
  'ownerId',
] as const satisfies readonly (keyof KeySettings)[];

/** The audit changes of a new key: every setting, from nothing. */
export function creationChangesOf(created: ApiKeyRecord): AuditChanges {
  const changes: AuditChanges = {};
  for (const field of SETTINGS_FIELDS) changes[field] = { before: null, after: toAuditValue(created[field]) };
  return changes;
}

/** A partial update applied to the stored settings (rate and token limits merge per window). */
export function mergeSettings(before: ApiKeyRecord, patch: KeySettingsPatch): Partial<KeySettings> {
  const { rateLimits, tokenLimits, ...rest } = patch;
  const merged: Partial<KeySettings> = rest;
  if (rateLimits) merged.rateLimits = { ...before.rateLimits, ...rateLimits };
  if (tokenLimits) merged.tokenLimits = { ...before.tokenLimits, ...tokenLimits };
  return merged;
}

/** Audit changes between two versions of a key: settings, status and credential metadata. */
export function changesOf(before: ApiKeyRecord, after: ApiKeyRecord): AuditChanges {
  return diffFields(before, after, [...SETTINGS_FIELDS, 'status', 'revokedAt', 'last4', 'previousSecretExpiresAt']);
}

/** Audit changes of a usage reset: the counters before and after. */
export function usageChangesOf(before: ApiKeyRecord, after: ApiKeyRecord): AuditChanges {
  const counters = (key: ApiKeyRecord) => ({ ...key.usage, budgetSpentMicroCents: key.ledger.budgetSpentMicroCents });
  return diffFields(counters(before), counters(after), [
    'requestsOk',
    'requestsFailed',
    'tokens',
    'spendMicroCents',
    'budgetSpentMicroCents',
  ]);
}
