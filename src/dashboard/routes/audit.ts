/**
 * GET /audit: the tenant's audit log, newest first, filtered by actor (a person, an API key that
 * used the management API, or Keyward itself), action, key (its id or the displayed
 * `kw_AbCd1234EfGh…`) and date range (UTC days), paginated. Every filter combination runs on an
 * index (tenantId + the filter + createdAt). Members see their own actions; platform admins can
 * also read platform events.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { AuditEvent } from '../../audit/audit-types';
import { existingKeyIds } from '../../data/repositories/api-keys';
import { listApiKeyActors, listAuditEvents } from '../../data/repositories/audit-events';
import { AUDIT_ACTIONS, auditRows, keyIdOfFilter } from '../audit-view';
import { paginate } from '../links';
import { ownerScope } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const day = z
  .string()
  .regex(DAY)
  .refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)))
  .optional()
  .catch(undefined);

const auditQuerySchema = z.object({
  actor: z.string().trim().max(80).optional().catch(undefined),
  action: z.enum(Object.keys(AUDIT_ACTIONS) as [string, ...string[]]).optional().catch(undefined),
  key: z.string().trim().max(200).optional().catch(undefined),
  from: day,
  to: day,
  scope: z.enum(['tenant', 'platform']).catch('tenant'),
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1),
});

const PAGE_SIZE = 25;

/** The actor filter's value: a user id, `key:<id>` for an API key, or `system`. */
function actorFilter(value: string | undefined): { actorType?: AuditEvent['actorType']; actorId?: string } {
  if (!value) return {};
  if (value === 'system') return { actorType: 'system' };
  if (value.startsWith('key:')) return { actorType: 'api_key', actorId: value.slice(4) };
  return { actorType: 'user', actorId: value };
}

/** GET /audit. */
export function auditRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();

  router.get('/audit', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    const query = auditQuerySchema.parse(req.query);
    const platform = viewer.isPlatformAdmin && query.scope === 'platform';
    const actor = viewer.managesTenant ? actorFilter(query.actor) : { actorType: 'user' as const, actorId: viewer.user.id };
    const keyId = query.key ? keyIdOfFilter(query.key) : null;
    const keyError = query.key && !keyId ? 'is not a key id: use the id (AbCd1234EfGh) or the key as the list shows it (kw_AbCd1234EfGh…)' : null;
    const tenantId = platform ? null : viewer.tenant.id;
    const { rows, total, totalCapped } = keyError
      ? { rows: [], total: 0, totalCapped: false }
      : await listAuditEvents(ctx.database, {
          tenantId,
          ...actor,
          action: query.action,
          targetId: keyId ?? undefined,
          from: query.from ? new Date(`${query.from}T00:00:00Z`) : undefined,
          to: query.to ? new Date(Date.parse(`${query.to}T00:00:00Z`) + 86_400_000) : undefined,
          page: query.page,
          size: PAGE_SIZE,
        });
    const keyTargets = rows.flatMap((e) => (e.targetType === 'api_key' && e.targetId ? [e.targetId] : []));
    const [people, apiKeys, liveKeys] = await Promise.all([
      !viewer.managesTenant ? [] : platform ? ctx.users.list() : ctx.users.membersOf(viewer.tenant.id).then((ms) => ms.map((m) => m.user)),
      viewer.managesTenant && !platform ? listApiKeyActors(ctx.database.prisma, viewer.tenant.id) : [],
      existingKeyIds(ctx.database.prisma, viewer.tenant.id, keyTargets, ownerScope(viewer)),
    ]);
    const filters = {
      actor: viewer.managesTenant ? query.actor : undefined,
      action: query.action,
      key: query.key,
      from: query.from,
      to: query.to,
      scope: platform ? 'platform' : undefined,
    };
    pages.send(req, res, 'audit', {
      title: 'Audit log',
      rows: auditRows(rows, liveKeys),
      query,
      platform,
      people,
      apiKeys,
      actions: AUDIT_ACTIONS,
      errors: keyError ? { key: keyError } : {},
      filtered: Boolean(filters.actor || filters.action || filters.key || filters.from || filters.to),
      pagination: paginate('/audit', filters, query.page, PAGE_SIZE, total, { capped: totalCapped }),
    });
  });

  return router;
}
