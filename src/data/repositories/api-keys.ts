import type { ApiKeyRecord, BudgetPeriod, KeyCredentials, KeySettings, KeyStatus, Tier, UsageLimitPeriod } from '@keyward/guard';
import type { Db, Prisma, Tx } from '../client-types';

type KeyRow = Prisma.ApiKeyGetPayload<{ include: { tags: true } }>;

const withTags = { tags: { orderBy: { tag: 'asc' } } } satisfies Prisma.ApiKeyInclude;

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenantId,
    ownerId: row.ownerId,
    prefix: row.prefix,
    secretHash: row.secretHash,
    hashVersion: row.hashVersion,
    last4: row.last4,
    previousSecretHash: row.previousSecretHash,
    previousHashVersion: row.previousHashVersion,
    previousSecretExpiresAt: row.previousSecretExpiresAt,
    name: row.name,
    description: row.description,
    metadata: row.metadata as Record<string, unknown>,
    scopes: row.scopes as string[],
    tags: row.tags.map((t) => t.tag),
    tier: row.tier as Tier,
    rateLimits: {
      perMinute: row.rateLimitPerMinute,
      perHour: row.rateLimitPerHour,
      perDay: row.rateLimitPerDay,
      perMonth: row.rateLimitPerMonth,
    },
    allowedIps: row.allowedIps as string[],
    allowedModels: row.allowedModels as string[],
    allowedChatbots: row.allowedChatbots as string[],
    usageLimit: row.usageLimit,
    usageLimitPeriod: row.usageLimitPeriod as UsageLimitPeriod,
    tokenLimits: {
      perMinute: row.tokenLimitPerMinute === null ? null : Number(row.tokenLimitPerMinute),
      perDay: row.tokenLimitPerDay === null ? null : Number(row.tokenLimitPerDay),
    },
    maxConcurrentRequests: row.maxConcurrentRequests,
    notifyOnNewIp: row.notifyOnNewIp,
    budget:
      row.budgetLimitCents === null
        ? null
        : { limitCents: row.budgetLimitCents, period: (row.budgetPeriod ?? 'total') as BudgetPeriod },
    expiresAt: row.expiresAt,
    status: row.status as KeyStatus,
    revokedAt: row.revokedAt,
    usage: {
      requestsOk: Number(row.requestsOk),
      requestsFailed: Number(row.requestsFailed),
      tokens: Number(row.tokens),
      spendMicroCents: Number(row.spendMicroCents),
      lastUsedAt: row.lastUsedAt,
    },
    ledger: {
      budgetPeriodStart: row.budgetPeriodStart,
      budgetSpentMicroCents: Number(row.budgetSpentMicroCents),
      budgetCeilingMicroCents: Number(row.budgetCeilingMicroCents),
      quotaCeiling: Number(row.quotaCeiling),
      quotaPeriodStart: row.quotaPeriodStart,
    },
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** Column values for settings (all, or the ones present in a patch). */
function settingsColumns(settings: Partial<KeySettings>): Prisma.ApiKeyUncheckedUpdateInput {
  const data: Prisma.ApiKeyUncheckedUpdateInput = {};
  if (settings.name !== undefined) data.name = settings.name;
  if (settings.description !== undefined) data.description = settings.description;
  if (settings.metadata !== undefined) data.metadata = settings.metadata as Prisma.InputJsonObject;
  if (settings.scopes !== undefined) data.scopes = settings.scopes;
  if (settings.tier !== undefined) data.tier = settings.tier;
  if (settings.rateLimits !== undefined) {
    data.rateLimitPerMinute = settings.rateLimits.perMinute;
    data.rateLimitPerHour = settings.rateLimits.perHour;
    data.rateLimitPerDay = settings.rateLimits.perDay;
    data.rateLimitPerMonth = settings.rateLimits.perMonth;
  }
  if (settings.allowedIps !== undefined) data.allowedIps = settings.allowedIps;
  if (settings.allowedModels !== undefined) data.allowedModels = settings.allowedModels;
  if (settings.allowedChatbots !== undefined) data.allowedChatbots = settings.allowedChatbots;
  if (settings.usageLimit !== undefined) data.usageLimit = settings.usageLimit;
  if (settings.usageLimitPeriod !== undefined) data.usageLimitPeriod = settings.usageLimitPeriod;
  if (settings.tokenLimits !== undefined) {
    data.tokenLimitPerMinute = settings.tokenLimits.perMinute;
    data.tokenLimitPerDay = settings.tokenLimits.perDay;
  }
  if (settings.maxConcurrentRequests !== undefined) data.maxConcurrentRequests = settings.maxConcurrentRequests;
  if (settings.notifyOnNewIp !== undefined) data.notifyOnNewIp = settings.notifyOnNewIp;
  if (settings.budget !== undefined) {
    data.budgetLimitCents = settings.budget?.limitCents ?? null;
    data.budgetPeriod = settings.budget?.period ?? null;
  }
  if (settings.expiresAt !== undefined) data.expiresAt = settings.expiresAt;
  if (settings.ownerId !== undefined) data.ownerId = settings.ownerId;
  return data;
}

/** A tag as the tag filter compares it: lower-cased ("Prod" and "prod" are one filter). */
export function foldTag(tag: string): string {
  return tag.toLowerCase();
}

/** Finds a key by its public id, in any tenant (callers check the tenant). */
export async function findKey(db: Db | Tx, id: string): Promise<ApiKeyRecord | null> {
  const row = await db.apiKey.findUnique({ where: { id }, include: withTags });
  return row ? toRecord(row) : null;
}

export interface NewKeyRow {
  id: string;
  tenantId: string;
  settings: KeySettings;
  credentials: KeyCredentials;
  now: Date;
}

export async function insertKey(tx: Tx, key: NewKeyRow): Promise<ApiKeyRecord> {
  const { tags, ...settings } = key.settings;
  const row = await tx.apiKey.create({
    data: {
      ...(settingsColumns(settings) as Prisma.ApiKeyUncheckedCreateInput),
      ...key.credentials,
      id: key.id,
      tenantId: key.tenantId,
      status: 'active',
      createdAt: key.now,
      updatedAt: key.now,
      tags: { create: tags.map((tag) => ({ tag, tagLower: foldTag(tag), tenantId: key.tenantId })) },
    },
    include: withTags,
  });
  return toRecord(row);
}

/** Fields that change through lifecycle actions rather than settings. */
export interface KeyStateChange {
  status?: KeyStatus;
  revokedAt?: Date | null;
  credentials?: Partial<KeyCredentials>;
}

/** Updates settings and/or state of a key. Tags are replaced when present in `settings`. */
export async function updateKey(
  tx: Tx,
  key: { id: string; tenantId: string },
  settings: Partial<KeySettings>,
  state: KeyStateChange = {},
  now = new Date(),
): Promise<ApiKeyRecord> {
  const { tags, ...rest } = settings;
  if (tags !== undefined) {
    await tx.apiKeyTag.deleteMany({ where: { keyId: key.id } });
    if (tags.length > 0) {
      await tx.apiKeyTag.createMany({ data: tags.map((tag) => ({ keyId: key.id, tenantId: key.tenantId, tag, tagLower: foldTag(tag) })) });
    }
  }
  const row = await tx.apiKey.update({
    where: { id: key.id },
    data: {
      ...settingsColumns(rest),
      ...(state.status !== undefined ? { status: state.status } : {}),
      ...(state.revokedAt !== undefined ? { revokedAt: state.revokedAt } : {}),
      ...(state.credentials ?? {}),
      updatedAt: now,
    },
    include: withTags,
  });
  return toRecord(row);
}

/** Clears usage counters and the ledgers' durable state (quota and budget start over). */
export async function resetKeyUsage(tx: Tx, id: string, now = new Date()): Promise<ApiKeyRecord> {
  const row = await tx.apiKey.update({
    where: { id },
    data: {
      requestsOk: 0,
      requestsFailed: 0,
      tokens: 0,
      spendMicroCents: 0,
      budgetSpentMicroCents: 0,
      budgetCeilingMicroCents: 0,
      budgetPeriodStart: null,
      quotaCeiling: 0,
      quotaPeriodStart: null,
      updatedAt: now,
    },
    include: withTags,
  });
  return toRecord(row);
}

export async function deleteKey(tx: Tx, id: string): Promise<void> {
  await tx.apiKey.delete({ where: { id } });
}

/** Keys whose expiry is before `before`, oldest first (a range of the (expiresAt) index). */
export async function findKeysExpiredBefore(db: Db, before: Date, limit: number): Promise<ApiKeyRecord[]> {
  const rows = await db.apiKey.findMany({
    where: { expiresAt: { lt: before } },
    include: withTags,
    orderBy: { expiresAt: 'asc' },
    take: limit,
  });
  return rows.map(toRecord);
}

/** The keys with these ids, in the order of `ids` (missing ones left out): a page's rows by primary key. */
export async function findKeysByIds(db: Db, ids: readonly string[]): Promise<ApiKeyRecord[]> {
  if (ids.length === 0) return [];
  const rows = await db.apiKey.findMany({ where: { id: { in: [...ids] } }, include: withTags });
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.flatMap((id) => {
    const row = byId.get(id);
    return row ? [toRecord(row)] : [];
  });
}

/** Which of `ids` are keys of the tenant now (of one owner, when given): the ones worth linking to. */
export async function existingKeyIds(db: Db, tenantId: string, ids: readonly string[], ownerId?: string): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.apiKey.findMany({
    where: { id: { in: [...new Set(ids)] }, tenantId, ...(ownerId ? { ownerId } : {}) },
    select: { id: true },
  });
  return new Set(rows.map((row) => row.id));
}
