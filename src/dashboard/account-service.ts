/**
 * What people do to their own sign-in and what platform admins do to accounts, where sessions
 * are involved: a changed password ends the person's other sessions, "sign out everywhere" ends
 * all of them, and a disabled account loses every session at once.
 */
import type { Actor } from '../audit/audit-types';
import type { User } from '../tenants/tenant-types';
import type { UserService } from '../users/user-service';
import type { DatabaseSessionStore, SessionSummary } from './session-store';

/** Account actions that touch sessions. */
export class AccountService {
  constructor(
    private readonly users: UserService,
    private readonly sessions: DatabaseSessionStore,
  ) {}

  /** Changes the password (see UserService.changePassword) and ends every other session of the person. */
  async changePassword(userId: string, input: unknown, currentSid: string, actor: Actor): Promise<User> {
    const user = await this.users.changePassword(userId, input, actor);
    await this.sessions.endSessionsOfUser(userId, currentSid);
    return user;
  }

  /** Ends every session of the person, this one included. Returns how many ended. */
  signOutEverywhere(userId: string): Promise<number> {
    return this.sessions.endSessionsOfUser(userId);
  }

  /** Ends the person's sessions except this one. */
  signOutOthers(userId: string, currentSid: string): Promise<number> {
    return this.sessions.endSessionsOfUser(userId, currentSid);
  }

  sessionsOf(userId: string): Promise<SessionSummary[]> {
    return this.sessions.sessionsOfUser(userId);
  }

  /** Disables or enables an account; disabling ends all its sessions. */
  async setDisabled(userId: string, disabled: boolean, actor: Actor): Promise<User> {
    const user = await this.users.setDisabled(userId, disabled, actor);
    if (disabled) await this.sessions.endSessionsOfUser(userId);
    return user;
  }
}
