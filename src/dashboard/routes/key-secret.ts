/**
 * The one-time secret page: after create, regenerate and rotate the new secret waits, sealed, in
 * the session; GET /keys/:id/secret shows it once with Cache-Control: no-store and removes it, so
 * a reload (or the back button) shows only that it was shown already.
 */
import { type Request, Router } from 'express';
import type { AppContext } from '../../context';
import type { IssuedKey } from '../../keys/key-service';
import { visibleKey } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn } from '../viewer';
import type { DashboardDeps } from './deps';

/** Keeps a new secret for its one-time page. */
export function stashSecret(
  ctx: AppContext,
  req: Request,
  issued: IssuedKey,
  action: 'create' | 'regenerate' | 'rotate',
): void {
  req.session.issuedSecret = {
    keyId: issued.apiKey.id,
    sealed: ctx.dashboard.secrets.seal(issued.key),
    action,
    graceEndsAt: issued.apiKey.previousSecretExpiresAt?.toISOString(),
  };
}

/** GET /keys/:id/secret. */
export function keySecretRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();

  router.get('/keys/:id/secret', signedIn, requireTenant(pages), async (req, res) => {
    const key = await visibleKey(ctx, req, req.params.id as string);
    const stashed = req.session.issuedSecret;
    let secret: string | null = null;
    if (stashed && stashed.keyId === key.id) {
      secret = ctx.dashboard.secrets.open(stashed.sealed);
      delete req.session.issuedSecret;
    }
    pages.send(
      req,
      res,
      'keys/secret',
      {
        title: secret ? 'Copy your new key' : 'Secret already shown',
        key,
        secret,
        action: stashed?.keyId === key.id ? stashed.action : null,
        graceEndsAt: stashed?.keyId === key.id && stashed.graceEndsAt ? new Date(stashed.graceEndsAt) : null,
      },
      { noStore: true },
    );
  });

  return router;
}
