/**
 * Key actions, each behind a confirmation step: GET /keys/:id/<action> shows what will happen,
 * POST /keys/:id/<action> does it through the key service (which audits it and tells the /api
 * caches at once). Actions: revoke, deactivate, activate, regenerate, rotate (with a grace period),
 * reset-usage, delete.
 */
import { type Request, Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import type { ApiKeyRecord } from '@keyward/guard';
import { parseInput } from '../../lib/validation';
import { userActor } from '../actor';
import { keyLimitsOf, visibleKey } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';
import { stashSecret } from './key-secret';

/** Grace periods offered when rotating (seconds → label). */
export const GRACE_PERIODS = [
  { seconds: 0, label: 'None: the old secret stops working now' },
  { seconds: 3_600, label: '1 hour' },
  { seconds: 86_400, label: '24 hours' },
  { seconds: 604_800, label: '7 days' },
] as const;

const graceSchema = z.object({
  grace: z.coerce
    .number()
    .refine((n) => GRACE_PERIODS.some((g) => g.seconds === n), 'must be one of the offered grace periods'),
});

interface KeyAction {
  title: string;
  button: string;
  danger: boolean;
  /** What will happen, for the confirmation page. */
  explain: string;
  /** Whether the key's state allows it (the key service checks again). */
  allowed: (key: ApiKeyRecord) => boolean;
  /** Does it; returns where to go next. */
  run: (ctx: AppContext, req: Request, key: ApiKeyRecord) => Promise<string>;
}

const notRevoked = (key: ApiKeyRecord) => key.status !== 'revoked';

function done(req: Request, message: string, to: string): string {
  req.session.flash = { kind: 'success', message };
  return to;
}

/** Every action by its path segment. */
export const KEY_ACTIONS: Record<string, KeyAction> = {
  revoke: {
    title: 'Revoke this key?',
    button: 'Revoke key',
    danger: true,
    explain: 'Every request with this key is refused from now on (key_revoked). Revoking is permanent: a revoked key cannot be activated again.',
    allowed: notRevoked,
    run: async (ctx, req, key) => {
      await ctx.keys.revoke(tenantOf(req).tenant.id, key.id, userActor(req), keyLimitsOf(req));
      return done(req, `Revoked ${key.name}.`, `/keys/${key.id}`);
    },
  },
  deactivate: {
    title: 'Deactivate this key?',
    button: 'Deactivate key',
    danger: true,
    explain: 'Requests with this key are refused (key_inactive) until you activate it again.',
    allowed: (key) => key.status === 'active',
    run: async (ctx, req, key) => {
      await ctx.keys.deactivate(tenantOf(req).tenant.id, key.id, userActor(req), keyLimitsOf(req));
      return done(req, `Deactivated ${key.name}.`, `/keys/${key.id}`);
    },
  },
  activate: {
    title: 'Activate this key?',
    button: 'Activate key',
    danger: false,
    explain: 'Requests with this key are accepted again (within its limits and expiry).',
    allowed: (key) => key.status === 'inactive',
    run: async (ctx, req, key) => {
      await ctx.keys.activate(tenantOf(req).tenant.id, key.id, userActor(req), keyLimitsOf(req));
      return done(req, `Activated ${key.name}.`, `/keys/${key.id}`);
    },
  },
  regenerate: {
    title: 'Regenerate the secret?',
    button: 'Regenerate secret',
    danger: true,
    explain: 'A new secret replaces the current one, which stops working immediately. Programs using the old secret fail until they get the new one. To switch over without downtime, rotate instead.',
    allowed: notRevoked,
    run: async (ctx, req, key) => {
      const issued = await ctx.keys.regenerate(tenantOf(req).tenant.id, key.id, userActor(req), keyLimitsOf(req));
      stashSecret(ctx, req, issued, 'regenerate');
      return `/keys/${key.id}/secret`;
    },
  },
  rotate: {
    title: 'Rotate the secret?',
    button: 'Rotate secret',
    danger: false,
    explain: 'A new secret is issued; the old one keeps working for the grace period you choose, so programs can switch over. Rotating again ends an earlier grace period.',
    allowed: notRevoked,
    run: async (ctx, req, key) => {
      const { grace } = parseInput(graceSchema, req.body ?? {});
      const issued = await ctx.keys.rotate(tenantOf(req).tenant.id, key.id, { gracePeriodSeconds: grace }, userActor(req), keyLimitsOf(req));
      stashSecret(ctx, req, issued, 'rotate');
      return `/keys/${key.id}/secret`;
    },
  },
  'reset-usage': {
    title: 'Reset usage?',
    button: 'Reset usage',
    danger: true,
    explain: 'The request quota and the budget start over from zero. The usage history (charts) stays.',
    allowed: () => true,
    run: async (ctx, req, key) => {
      await ctx.keys.resetUsage(tenantOf(req).tenant.id, key.id, userActor(req), keyLimitsOf(req));
      return done(req, `Reset the usage of ${key.name}.`, `/keys/${key.id}`);
    },
  },
  delete: {
    title: 'Delete this key?',
    button: 'Delete key',
    danger: true,
    explain: 'The key is removed and every request with it is refused. Its audit events and usage history stay. This cannot be undone.',
    allowed: () => true,
    run: async (ctx, req, key) => {
      await ctx.keys.delete(tenantOf(req).tenant.id, key.id, userActor(req), keyLimitsOf(req));
      return done(req, `Deleted ${key.name}.`, '/keys');
    },
  },
};

/** GET (confirm) and POST (do) of every key action. */
export function keyActionRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();

  for (const [name, action] of Object.entries(KEY_ACTIONS)) {
    router.get(`/keys/:id/${name}`, signedIn, requireTenant(pages), async (req, res) => {
      const key = await visibleKey(ctx, req, req.params.id as string);
      pages.send(req, res, 'keys/confirm', {
        title: action.title,
        key,
        name,
        action,
        allowed: action.allowed(key),
        graces: name === 'rotate' ? GRACE_PERIODS : null,
      });
    });

    router.post(`/keys/:id/${name}`, signedIn, requireTenant(pages), async (req, res) => {
      const key = await visibleKey(ctx, req, req.params.id as string);
      res.redirect(await action.run(ctx, req, key));
    });
  }

  return router;
}
