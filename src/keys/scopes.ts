/** The scope that implies every other. */
export const ADMIN_SCOPE = 'admin';

/** True when `scopes` include `scope`, or `admin` (which implies every scope). */
export function holdsScope(scopes: readonly string[], scope: string): boolean {
  return scopes.includes(scope) || scopes.includes(ADMIN_SCOPE);
}

/** The scopes of `required` that `held` does not cover (empty when it covers them all). */
export function missingScopes(held: readonly string[], required: readonly string[]): string[] {
  return required.filter((scope) => !holdsScope(held, scope));
}
