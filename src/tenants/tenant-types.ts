export const MEMBER_ROLES = ['owner', 'admin', 'member'] as const;
/** A person's role in a tenant: owners and admins manage every key and member; members their own keys. */
export type MemberRole = (typeof MEMBER_ROLES)[number];

export interface Tenant {
  id: string;
  name: string;
  slug: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface User {
  id: string;
  email: string;
  name: string | null;
  disabled: boolean;
  isPlatformAdmin: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface Membership {
  userId: string;
  tenantId: string;
  role: MemberRole;
  createdAt: Date;
}

/** True for roles that manage every key and member of their tenant. */
export function isTenantAdminRole(role: MemberRole): boolean {
  return role === 'owner' || role === 'admin';
}
