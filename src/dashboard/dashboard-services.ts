/**
 * The dashboard's services, built once per app context: the session store, sign-in with
 * brute-force counters and its form's CSRF token, account actions, the sealing of one-time
 * secrets, and forms kept across a sign-in.
 */
import type { ResolvedConfig } from '../config';
import type { Database } from '../data/database';
import type { LimitBackend } from '@keyward/guard';
import type { UserService } from '../users/user-service';
import { AccountService } from './account-service';
import { FormDrafts } from './form-drafts';
import { SecretBox } from './secret-box';
import { DatabaseSessionStore } from './session-store';
import { SignInCsrf } from './sign-in-csrf';
import { SignInService } from './sign-in-service';

/** The dashboard's services in the app context. */
export interface DashboardServices {
  /** "Now" for sessions and pages (tests move it). */
  clock: () => Date;
  sessions: DatabaseSessionStore;
  signIn: SignInService;
  /** The sign-in form's CSRF token, which needs no session. */
  signInForm: SignInCsrf;
  accounts: AccountService;
  secrets: SecretBox;
  /** Forms kept across a sign-in when their session ended before they were sent. */
  drafts: FormDrafts;
}

/** Builds the dashboard's services on the app's database, people directory and limit store. */
export function createDashboardServices(deps: {
  config: ResolvedConfig;
  database: Database;
  users: UserService;
  limits: LimitBackend;
  clock?: () => Date;
}): DashboardServices {
  const clock = deps.clock ?? (() => new Date());
  const { dashboard } = deps.config;
  const sessions = new DatabaseSessionStore({
    database: deps.database,
    idleMs: dashboard.sessionIdleMinutes * 60_000,
    maxMs: dashboard.sessionMaxHours * 3_600_000,
    clock,
  });
  return {
    clock,
    sessions,
    signIn: new SignInService(
      deps.users,
      deps.limits,
      {
        failuresPerEmailAndIp: dashboard.loginFailuresPerEmailAndIp,
        failuresPerIpPerDay: dashboard.loginFailuresPerIpPerDay,
      },
      clock,
    ),
    signInForm: new SignInCsrf({ sessionSecret: deps.config.sessionSecret, publicUrl: dashboard.publicUrl, clock }),
    accounts: new AccountService(deps.users, sessions),
    secrets: new SecretBox(deps.config.sessionSecret),
    drafts: new FormDrafts(deps.config.sessionSecret, clock),
  };
}
