/**
 * The key lifecycle, used by the dashboard, the management API, the CLI and (for verification)
 * the middleware's store. Secrets enter here only as freshly generated strings, are returned once,
 * and are stored as HMACs (see key-hasher.ts). Every change writes its audit event and its change
 * record (key_changes, which every process polls) in the same transaction and, after commit, tells
 * the key caches (KeyEventBus).
 */
import type { Actor, AuditChanges, AuditLabels } from '../audit/audit-types';
import type { Tx } from '../data/client-types';
import type { Database } from '../data/database';
import {
  deleteKey,
  findKey,
  findKeysExpiredBefore,
  insertKey,
  type KeyStateChange,
  resetKeyUsage,
  updateKey,
} from '../data/repositories/api-keys';
import { decodeCursor, keyStats, listKeyPage, orderOf } from '../data/repositories/key-list';
import { insertAuditEvent } from '../data/repositories/audit-events';
import { insertKeyChange } from '../data/repositories/key-changes';
import { findMembership, findUsersByIds } from '../data/repositories/users';
import { invalidState, notFound, validationError } from '../errors';
import { changesOf, creationChangesOf, mergeSettings, usageChangesOf } from './key-audit';
import { assertGrantable, assertMayActOn, type ChangeLimits } from './key-authority';
import { type ApiKeyRecord, checkCredential, type CredentialFailure, type DisplayStatus, displayStatus, generateKey, isKeyId, type KeyChange, type KeyEventBus, type KeyHasher, parseKey } from '@keyward/guard';
import { parseCreateKeyInput, parseKeyListQuery, parseRotateInput, parseUpdateKeyInput } from './key-input';


export interface KeyServiceOptions {
  database: Database;
  hasher: KeyHasher;
  /** KEY_PREFIX: the start of every new key. */
  keyPrefix: string;
  events: KeyEventBus;
  /** Written with each change record, so this process's change feed can skip its own changes. */
  origin: string;
  clock?: () => Date;
}

/** A change written in its transaction, to announce once committed. */
interface RecordedChange {
  key: ApiKeyRecord;
  kind: KeyChange['kind'];
  changeId: number;
}

/** A freshly issued secret with the key it belongs to. The secret is never retrievable again. */
export interface IssuedKey {
  key: string;
  apiKey: ApiKeyRecord;
}

export interface Page<T> {
  data: T[];
  /** Matches counted up to COUNT_CAP (key-list.ts); `totalCapped` when there are more. */
  total: number;
  totalCapped: boolean;
  /** Null for a page reached by cursor. */
  page: number | null;
  size: number;
  /** The `cursor` of the next page, or null on the last page. */
  nextCursor: string | null;
}

export type VerifyFailure = CredentialFailure | 'quota_exceeded';
export type VerifyResult = { ok: true; apiKey: ApiKeyRecord } | { ok: false; code: VerifyFailure };

export type KeyStats = Record<DisplayStatus, number> & { total: number };

export class KeyService {
  private readonly db: Database;
  private readonly hasher: KeyHasher;
  private readonly keyPrefix: string;
  private readonly events: KeyEventBus;
  private readonly origin: string;
  private readonly now: () => Date;

  constructor(options: KeyServiceOptions) {
    this.db = options.database;
    this.hasher = options.hasher;
    this.keyPrefix = options.keyPrefix;
    this.events = options.events;
    this.origin = options.origin;
    this.now = options.clock ?? (() => new Date());
  }

  /**
   * Issues a new key in a tenant. The returned secret is shown once and stored only as a hash.
   * With `limits.authority`, the new key may hold no scope the actor lacks.
   */
  async create(tenantId: string, input: unknown, actor: Actor, limits: ChangeLimits = {}): Promise<IssuedKey> {
    const now = this.now();
    const settings = parseCreateKeyInput(input, now);
    assertGrantable(settings.scopes, limits.authority);
    const generated = generateKey(this.keyPrefix);
    const recorded = await this.db.transaction(async (tx) => {
      await this.assertOwnerInTenant(tx, tenantId, settings.ownerId);
      const created = await insertKey(tx, {
        id: generated.id,
        tenantId,
        settings,
        credentials: {
          prefix: this.keyPrefix,
          secretHash: this.hasher.hash(generated.key),
          hashVersion: this.hasher.currentVersion,
          last4: generated.last4,
          previousSecretHash: null,
          previousHashVersion: null,
          previousSecretExpiresAt: null,
        },
        now,
      });
      const changes = creationChangesOf(created);
      return this.record(tx, created, actor, 'key.create', changes, now, 'created');
    });
    this.publish(recorded);
    return { key: generated.key, apiKey: recorded.key };
  }

  /** A key of the tenant; 404 for unknown ids and other tenants' keys alike. */
  async get(tenantId: string, id: string): Promise<ApiKeyRecord> {
    const key = isKeyId(id) ? await findKey(this.db.prisma, id) : null;
    if (!key || key.tenantId !== tenantId) throw notFound('API key');
    return key;
  }

  /** A key in any tenant, or null: for the middleware's store and the CLI, not for people. */
  async findById(id: string): Promise<ApiKeyRecord | null> {
    return isKeyId(id) ? findKey(this.db.prisma, id) : null;
  }

  /** The tenant of a key, for callers with authority over every tenant (the CLI). */
  async tenantOf(id: string): Promise<string> {
    const key = await this.findById(id);
    if (!key) throw notFound('API key');
    return key.tenantId;
  }

  /**
   * A page of the tenant's keys, filtered as asked (query-string values are accepted), as
   * GET /api/v1/keys lists them: `cursor` (the previous page's nextCursor) or `page` up to
   * 10,000 keys deep.
   */
  async list(tenantId: string, query: unknown): Promise<Page<ApiKeyRecord>> {
    const filters = parseKeyListQuery(query);
    // parseKeyListQuery refused anything but an object (or nothing); it leaves `cursor` out.
    const text = (query as { cursor?: unknown } | null | undefined)?.cursor;
    const cursor = text === undefined || text === '' ? undefined : decodeCursor(text, orderOf(filters));
    const page = await listKeyPage(this.db, { tenantId, ...filters, cursor }, this.now());
    return {
      data: page.rows,
      total: page.total,
      totalCapped: page.totalCapped,
      page: cursor ? null : filters.page,
      size: filters.size,
      nextCursor: page.nextCursor,
    };
  }

  /** Changes settings; fields absent from the input stay as they are. `limits` as for create(). */
  async update(tenantId: string, id: string, input: unknown, actor: Actor, limits: ChangeLimits = {}): Promise<ApiKeyRecord> {
    const now = this.now();
    const patch = parseUpdateKeyInput(input, now);
    if (patch.scopes) assertGrantable(patch.scopes, limits.authority);
    return this.change(tenantId, id, actor, limits, 'key.update', 'updated', async (tx, before) => {
      if (patch.ownerId !== undefined) await this.assertOwnerInTenant(tx, tenantId, patch.ownerId);
      const settings = mergeSettings(before, patch);
      return updateKey(tx, before, settings, {}, now);
    });
  }

  /** Revokes a key for good. Revoking a revoked key is a no-op that still answers the key. */
  async revoke(tenantId: string, id: string, actor: Actor, limits: ChangeLimits = {}): Promise<ApiKeyRecord> {
    const now = this.now();
    return this.change(tenantId, id, actor, limits, 'key.revoke', 'revoked', async (tx, before) =>
      before.status === 'revoked' ? before : updateKey(tx, before, {}, { status: 'revoked', revokedAt: now }, now),
    );
  }

  /** Suspends a key; it can be activated again. */
  async deactivate(tenantId: string, id: string, actor: Actor, limits: ChangeLimits = {}): Promise<ApiKeyRecord> {
    const now = this.now();
    return this.change(tenantId, id, actor, limits, 'key.deactivate', 'deactivated', async (tx, before) => {
      if (before.status === 'revoked') throw invalidState('This key is revoked; a revoked key cannot change state.');
      return before.status === 'inactive' ? before : updateKey(tx, before, {}, { status: 'inactive' }, now);
    });
  }

  /** Re-activates a deactivated key. A revoked key cannot be activated. */
  async activate(tenantId: string, id: string, actor: Actor, limits: ChangeLimits = {}): Promise<ApiKeyRecord> {
    const now = this.now();
    return this.change(tenantId, id, actor, limits, 'key.activate', 'activated', async (tx, before) => {
      if (before.status === 'revoked') throw invalidState('This key is revoked; a revoked key cannot be activated.');
      return before.status === 'active' ? before : updateKey(tx, before, {}, { status: 'active' }, now);
    });
  }

  /** Deletes a key and its tags. Its audit events and usage history stay. */
  async delete(tenantId: string, id: string, actor: Actor, limits: ChangeLimits = {}): Promise<void> {
    const now = this.now();
    const recorded = await this.db.transaction(async (tx) => {
      const key = await this.findInTenant(tx, tenantId, id);
      assertMayActOn(key, limits.authority);
      await deleteKey(tx, key.id);
      return this.record(tx, key, actor, 'key.delete', { name: { before: key.name, after: null } }, now, 'deleted');
    });
    this.publish(recorded);
  }

  /** Replaces the secret; the old one stops working at once. Returns the new secret (shown once). */
  async regenerate(tenantId: string, id: string, actor: Actor, limits: ChangeLimits = {}): Promise<IssuedKey> {
    return this.replaceSecret(tenantId, id, actor, limits, 0, 'key.regenerate', 'regenerated');
  }

  /**
   * Replaces the secret while the old one keeps working for `gracePeriodSeconds` (0 s to 7 days).
   * Only one previous secret is kept: rotating again ends the earlier grace period.
   */
  async rotate(tenantId: string, id: string, input: unknown, actor: Actor, limits: ChangeLimits = {}): Promise<IssuedKey> {
    const { gracePeriodSeconds } = parseRotateInput(input);
    return this.replaceSecret(tenantId, id, actor, limits, gracePeriodSeconds, 'key.rotate', 'rotated');
  }

  /** Clears usage counters: the request quota and the budget start over. History stays. */
  async resetUsage(tenantId: string, id: string, actor: Actor, limits: ChangeLimits = {}): Promise<ApiKeyRecord> {
    const now = this.now();
    return this.change(
      tenantId,
      id,
      actor,
      limits,
      'key.reset_usage',
      'usage_reset',
      (tx, before) => resetKeyUsage(tx, before.id, now),
      usageChangesOf,
    );
  }

  /**
   * Checks a presented key: format, checksum, lookup, HMAC (current or rotated-out secret),
   * status, expiry, then the request quota. The middleware runs the same checks from its cache.
   */
  async verify(presentedKey: string): Promise<VerifyResult> {
    const parsed = parseKey(presentedKey);
    if (!parsed) return { ok: false, code: 'invalid_api_key' };
    const record = await findKey(this.db.prisma, parsed.id);
    const check = checkCredential(record, presentedKey, this.hasher, this.now().getTime());
    if (!check.ok) return check;
    const apiKey = record as ApiKeyRecord;
    const used = apiKey.usage.requestsOk + apiKey.usage.requestsFailed;
    if (apiKey.usageLimit !== null && used >= apiKey.usageLimit) return { ok: false, code: 'quota_exceeded' };
    return { ok: true, apiKey };
  }

  /** Key counts of a tenant by displayed status. */
  async stats(tenantId: string): Promise<KeyStats> {
    return keyStats(this.db, tenantId, this.now());
  }

  /**
   * Deletes keys that expired more than `retentionDays` ago, each with an audit event.
   * Returns how many were deleted. Run periodically by the server.
   *
   * Small batches read through the expiresAt index, with a turn of the event loop between them:
   * on SQLite every statement runs on the thread that serves /api, so a cleanup of thousands of
   * keys must never hold it for more than a few milliseconds at a time.
   */
  async cleanupExpired(retentionDays: number, actor: Actor, batchSize = 50): Promise<number> {
    if (retentionDays <= 0) return 0;
    const now = this.now();
    const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
    let deleted = 0;
    for (;;) {
      const expired = await findKeysExpiredBefore(this.db.prisma, cutoff, batchSize);
      if (expired.length === 0) return deleted;
      for (const key of expired) {
        const recorded = await this.db.transaction(async (tx) => {
          await deleteKey(tx, key.id);
          return this.record(tx, key, actor, 'key.expired_cleanup', { name: { before: key.name, after: null } }, now, 'deleted');
        });
        this.publish(recorded);
        deleted += 1;
      }
      if (expired.length < batchSize) return deleted;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** The displayed status of a key now. */
  statusOf(key: ApiKeyRecord): DisplayStatus {
    return displayStatus(key, this.now());
  }

  private async replaceSecret(
    tenantId: string,
    id: string,
    actor: Actor,
    limits: ChangeLimits,
    gracePeriodSeconds: number,
    action: string,
    kind: KeyChange['kind'],
  ): Promise<IssuedKey> {
    const now = this.now();
    let secret = '';
    const apiKey = await this.change(tenantId, id, actor, limits, action, kind, async (tx, before) => {
      if (before.status === 'revoked') throw invalidState('This key is revoked; its secret cannot be replaced.');
      const generated = generateKey(before.prefix, before.id);
      secret = generated.key;
      const keepPrevious = gracePeriodSeconds > 0;
      const state: KeyStateChange = {
        credentials: {
          secretHash: this.hasher.hash(generated.key),
          hashVersion: this.hasher.currentVersion,
          last4: generated.last4,
          previousSecretHash: keepPrevious ? before.secretHash : null,
          previousHashVersion: keepPrevious ? before.hashVersion : null,
          previousSecretExpiresAt: keepPrevious ? new Date(now.getTime() + gracePeriodSeconds * 1000) : null,
        },
      };
      return updateKey(tx, before, {}, state, now);
    });
    return { key: secret, apiKey };
  }

  /**
   * Runs one change to a key of the tenant in a transaction: load, check the actor may act on it,
   * apply, audit the difference, then tell the caches.
   */
  private async change(
    tenantId: string,
    id: string,
    actor: Actor,
    limits: ChangeLimits,
    action: string,
    kind: KeyChange['kind'],
    apply: (tx: Tx, before: ApiKeyRecord) => Promise<ApiKeyRecord>,
    describe: (before: ApiKeyRecord, after: ApiKeyRecord) => AuditChanges = changesOf,
  ): Promise<ApiKeyRecord> {
    const now = this.now();
    const recorded = await this.db.transaction(async (tx) => {
      const before = await this.findInTenant(tx, tenantId, id);
      assertMayActOn(before, limits.authority);
      const updated = await apply(tx, before);
      return this.record(tx, updated, actor, action, describe(before, updated), now, kind);
    });
    this.publish(recorded);
    return recorded.key;
  }

  private async findInTenant(tx: Tx, tenantId: string, id: string): Promise<ApiKeyRecord> {
    const key = isKeyId(id) ? await findKey(tx, id) : null;
    if (!key || key.tenantId !== tenantId) throw notFound('API key');
    return key;
  }

  private async assertOwnerInTenant(tx: Tx, tenantId: string, ownerId: string | null | undefined): Promise<void> {
    if (!ownerId) return;
    if (!(await findMembership(tx, ownerId, tenantId))) {
      throw validationError([{ field: 'ownerId', message: 'is not a member of this tenant' }]);
    }
  }

  /**
   * Writes the audit event and the change record other processes poll (key_changes). Last in
   * every change's transaction: the change record holds a lock until the commit.
   */
  private async record(
    tx: Tx,
    key: ApiKeyRecord,
    actor: Actor,
    action: string,
    changes: AuditChanges,
    at: Date,
    kind: KeyChange['kind'],
  ): Promise<RecordedChange> {
    const labels = await this.ownerLabels(tx, changes);
    await insertAuditEvent(
      tx,
      { tenantId: key.tenantId, actor, action, targetType: 'api_key', targetId: key.id, targetLabel: key.name, changes, labels },
      at,
    );
    const changeId = await insertKeyChange(this.db, tx, { keyId: key.id, tenantId: key.tenantId, kind, origin: this.origin });
    return { key, kind, changeId };
  }

  /** The emails of the owners a change names, so the event reads right after they leave. */
  private async ownerLabels(tx: Tx, changes: AuditChanges): Promise<AuditLabels> {
    const ids = [changes.ownerId?.before, changes.ownerId?.after].filter((id): id is string => typeof id === 'string');
    const users = await findUsersByIds(tx, ids);
    return Object.fromEntries(users.map((user) => [user.id, user.email]));
  }

  /** Tells this process's caches (and, through Redis, other instances) after the commit. */
  private publish({ key, kind, changeId }: RecordedChange): void {
    this.events.publish({ keyId: key.id, tenantId: key.tenantId, kind, changeId });
  }
}
