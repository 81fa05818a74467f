/**
 * Tenant and owner limits: read with what their budgets have spent, changed with an audit event
 * and a change record in the same transaction (so every process's guard drops its cached copy
 * within a second, like a key change).
 */
import { type Actor, type AuditChanges, diffFields } from '../audit/audit-types';
import type { Database } from '../data/database';
import { insertAuditEvent } from '../data/repositories/audit-events';
import { insertKeyChange } from '../data/repositories/key-changes';
import {
  findLevelLimits,
  type LevelLimitRecord,
  listLevelLimitsOfTenant,
  ownerSubject,
  saveLevelLimits,
  tenantSubject,
} from '../data/repositories/level-limits';
import { findTenantById } from '../data/repositories/tenants';
import { findMembership, findUserById, listMembersOfTenant } from '../data/repositories/users';
import { notFound } from '../errors';
import { budgetPeriodEnd, budgetPeriodStart, type BudgetView, DEFAULT_ALERT_THRESHOLDS, type KeyEventBus, type LevelLimits, type LimitBackend, microCentsToCents, NO_LIMITS, type OwnerLimitsView, type TenantLimits, type TenantLimitsView } from '@keyward/guard';
import { applyLevelPatch, parseOwnerLimitsPatch, parseTenantLimitsPatch } from './level-input';

const AUDITED = ['budget', 'rateLimits', 'tokenLimits', 'alertThresholds'] as const;

export interface LevelLimitsServiceOptions {
  database: Database;
  limits: LimitBackend;
  events: KeyEventBus;
  /** The process's change-record origin (see KeyChangeInbox). */
  origin: string;
  clock?: () => Date;
}

/** Reads and changes the limits above keys. */
export class LevelLimitsService {
  private readonly db: Database;
  private readonly now: () => Date;

  constructor(private readonly options: LevelLimitsServiceOptions) {
    this.db = options.database;
    this.now = options.clock ?? (() => new Date());
  }

  async getTenant(tenantId: string): Promise<TenantLimitsView> {
    const tenant = await findTenantById(this.db.prisma, tenantId);
    if (!tenant) throw notFound('Tenant');
    const record = await findLevelLimits(this.db.prisma, tenantSubject(tenantId));
    return {
      id: tenant.id,
      name: tenant.name,
      slug: tenant.slug,
      ...limitsOf(record),
      alertThresholds: record?.alertThresholds ?? [...DEFAULT_ALERT_THRESHOLDS],
      budget: await this.budgetView(tenantSubject(tenantId), record),
    };
  }

  async updateTenant(tenantId: string, input: unknown, actor: Actor): Promise<TenantLimitsView> {
    const patch = parseTenantLimitsPatch(input);
    const subject = tenantSubject(tenantId);
    await this.change(tenantId, subject, async (tx) => {
      const tenant = await findTenantById(tx, tenantId);
      if (!tenant) throw notFound('Tenant');
      const before = await findLevelLimits(tx, subject);
      const beforeLimits: TenantLimits = { ...limitsOf(before), alertThresholds: before?.alertThresholds ?? [...DEFAULT_ALERT_THRESHOLDS] };
      const after: TenantLimits = { ...applyLevelPatch(beforeLimits, patch), alertThresholds: patch.alertThresholds ?? beforeLimits.alertThresholds };
      await saveLevelLimits(tx, { subject, tenantId, userId: null }, after);
      return {
        action: 'tenant.limits_update',
        targetType: 'tenant' as const,
        targetId: tenantId,
        targetLabel: tenant.name,
        changes: diffFields(beforeLimits, after, AUDITED),
      };
    }, actor);
    return this.getTenant(tenantId);
  }

  async getOwner(tenantId: string, userId: string): Promise<OwnerLimitsView> {
    const email = await this.memberEmail(tenantId, userId);
    const subject = ownerSubject(tenantId, userId);
    const record = await findLevelLimits(this.db.prisma, subject);
    return { userId, email, ...limitsOf(record), budget: await this.budgetView(subject, record) };
  }

  async updateOwner(tenantId: string, userId: string, input: unknown, actor: Actor): Promise<OwnerLimitsView> {
    const patch = parseOwnerLimitsPatch(input);
    const email = await this.memberEmail(tenantId, userId);
    const subject = ownerSubject(tenantId, userId);
    await this.change(tenantId, subject, async (tx) => {
      const before = limitsOf(await findLevelLimits(tx, subject));
      const after = applyLevelPatch(before, patch);
      await saveLevelLimits(tx, { subject, tenantId, userId }, after);
      return {
        action: 'owner.limits_update',
        targetType: 'user' as const,
        targetId: userId,
        targetLabel: email,
        changes: diffFields(before, after, ['budget', 'rateLimits', 'tokenLimits'] as const),
      };
    }, actor);
    return this.getOwner(tenantId, userId);
  }

  /** Every member of a tenant with their owner limits (members without limits included). */
  async listOwners(tenantId: string): Promise<OwnerLimitsView[]> {
    const [members, records] = await Promise.all([listMembersOfTenant(this.db.prisma, tenantId), listLevelLimitsOfTenant(this.db.prisma, tenantId)]);
    const byUser = new Map(records.filter((r) => r.userId !== null).map((r) => [r.userId as string, r]));
    return Promise.all(
      members.map(async (m) => {
        const record = byUser.get(m.userId) ?? null;
        return { userId: m.userId, email: m.user.email, ...limitsOf(record), budget: await this.budgetView(ownerSubject(tenantId, m.userId), record) };
      }),
    );
  }

  /** The budget of a level with what its ledger counted in the current period. */
  private async budgetView(subject: string, record: LevelLimitRecord | null): Promise<BudgetView | null> {
    if (!record?.budget) return null;
    const { limitCents, period } = record.budget;
    const now = this.now().getTime();
    const periodStart = budgetPeriodStart(period, now);
    const baseline = { used: 0, ceiling: record.budgetCeilingMicroCents, periodStart: record.budgetPeriodStart?.getTime() ?? -1 };
    const usage = await this.options.limits.ledger.usage(subject, 'budget', periodStart, baseline);
    const end = budgetPeriodEnd(period, now);
    return {
      limitCents,
      period,
      spentCents: microCentsToCents(usage.used),
      remainingCents: microCentsToCents(Math.max(0, limitCents * 1_000_000 - usage.used - usage.reserved)),
      resetsAt: end === null ? null : new Date(end).toISOString(),
    };
  }

  private async memberEmail(tenantId: string, userId: string): Promise<string> {
    const [membership, user] = await Promise.all([findMembership(this.db.prisma, userId, tenantId), findUserById(this.db.prisma, userId)]);
    if (!membership || !user) throw notFound('Member');
    return user.email;
  }

  /** Applies a change with its audit event and change record, then tells this process's guards. */
  private async change(
    tenantId: string,
    subject: string,
    apply: (tx: Parameters<Parameters<Database['transaction']>[0]>[0]) => Promise<{
      action: string;
      targetType: 'tenant' | 'user';
      targetId: string;
      targetLabel: string;
      changes: AuditChanges;
    }>,
    actor: Actor,
  ): Promise<void> {
    const at = this.now();
    const changeId = await this.db.transaction(async (tx) => {
      const event = await apply(tx);
      await insertAuditEvent(tx, { tenantId, actor, ...event }, at);
      return insertKeyChange(this.db, tx, { keyId: subject, tenantId, kind: 'updated', origin: this.options.origin });
    });
    this.options.events.publish({ keyId: subject, tenantId, kind: 'updated', changeId });
  }
}

/** The limits of a level row (none when the level has no row). */
function limitsOf(record: LevelLimitRecord | null): LevelLimits {
  if (!record) return { ...NO_LIMITS, rateLimits: { ...NO_LIMITS.rateLimits }, tokenLimits: { ...NO_LIMITS.tokenLimits } };
  return { budget: record.budget, rateLimits: record.rateLimits, tokenLimits: record.tokenLimits };
}
