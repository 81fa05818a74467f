/** The scope that implies every other. */
export const ADMIN_SCOPE = 'admin';

/** True when `scopes` include `scope`, or `admin` (which implies every scope). */
export function holdsScope(scopes: readonly string[], scope: string): boolean {
  return scopes.includes(scope) || scopes.includes(ADMIN_SCOPE);
}

/** The scopes of `required` that `held` does not cover (empty when it covers them all). */
export function missingScopes(held: readonly string[], required: readonly string[]): string[] {
  // Every guarded request asks: the common answer (none missing) allocates nothing.
  for (const scope of required) if (!holdsScope(held, scope)) return required.filter((s) => !holdsScope(held, s));
  return NONE_MISSING;
}

const NONE_MISSING: string[] = [];

/**
 * What an actor may hold, for acting on keys: a key may only be changed, and a scope only granted,
 * by an actor holding every scope involved. Absent where the actor holds everything (tenant owners
 * and admins, the CLI).
 */
export interface ScopeAuthority {
  /** True when the actor holds `scope`. */
  holds(scope: string): boolean;
  /** The actor in messages, e.g. "This API key". */
  who: string;
}

/** The authority of a calling API key: its own scopes (`admin` implies all). */
export function keyAuthority(scopes: readonly string[]): ScopeAuthority {
  return { holds: (scope) => holdsScope(scopes, scope), who: 'This API key' };
}

/** The scopes of `scopes` the authority does not hold (empty when it holds them all, or is absent). */
export function scopesBeyond(authority: ScopeAuthority | undefined, scopes: readonly string[]): string[] {
  return authority ? scopes.filter((scope) => !authority.holds(scope)) : [];
}
