/**
 * Who may change which key: acting on a key needs every scope it holds, and granting a scope needs
 * holding it (`admin` implies all). The key service checks both on every change, whoever acts (a
 * calling API key, a dashboard member); refusals are 403 `insufficient_scope` and change nothing.
 */
import { AppError } from '../errors';
import { type ApiKeyRecord, type ScopeAuthority, scopesBeyond } from '@keyward/guard';

/** Who acts, as far as scopes go (the last argument of every KeyService change). */
export interface ChangeLimits {
  /**
   * What the actor holds (a calling key's scopes, a member's role). The key acted on, and any scope
   * granted, must be within it: no privilege escalation through key management. Absent: the actor
   * holds every scope (tenant owners and admins, the CLI).
   */
  authority?: ScopeAuthority;
}

function scopeError(message: string, field?: { field: string; message: string }): AppError {
  return new AppError({ status: 403, code: 'insufficient_scope', message, ...(field ? { details: [field] } : {}) });
}

/** Refuses granting scopes beyond the actor's authority. */
export function assertGrantable(scopes: readonly string[], authority: ScopeAuthority | undefined): void {
  const beyond = scopesBeyond(authority, scopes);
  if (beyond.length === 0 || !authority) return;
  const plural = beyond.length > 1 ? 's' : '';
  throw scopeError(`${authority.who} cannot grant scope${plural} it does not hold itself: ${beyond.join(', ')}.`, {
    field: 'scopes',
    message: `may only contain scopes you hold (not ${beyond.join(', ')})`,
  });
}

/** Refuses acting on a key that holds scopes beyond the actor's authority. */
export function assertMayActOn(key: ApiKeyRecord, authority: ScopeAuthority | undefined): void {
  const beyond = scopesBeyond(authority, key.scopes);
  if (beyond.length === 0 || !authority) return;
  const plural = beyond.length > 1 ? 's' : '';
  throw scopeError(`${authority.who} cannot change a key holding scope${plural} it does not hold itself: ${beyond.join(', ')}.`);
}
