import { EventEmitter } from 'node:events';

/** What happened to a key; caches drop their copy on every change. */
export interface KeyChange {
  keyId: string;
  tenantId: string;
  kind: 'created' | 'updated' | 'revoked' | 'deactivated' | 'activated' | 'deleted' | 'regenerated' | 'rotated' | 'usage_reset';
  /**
   * The change's row in key_changes, set when the change was written through Keyward's database:
   * a process applies each id once, whichever transport (Redis, the change feed) brings it first.
   */
  changeId?: number;
  /** Set on changes made by another process (another instance, the CLI). */
  remote?: boolean;
}

/**
 * Carries key changes from the key service to whatever caches keys: in-process here, and across
 * instances when the app wires a broadcasting implementation (Redis pub/sub).
 */
export interface KeyEventBus {
  publish(change: KeyChange): void;
  /** Returns a function that unsubscribes. */
  subscribe(listener: (change: KeyChange) => void): () => void;
}

/** Delivers key changes to listeners in this process, synchronously. */
export class LocalKeyEventBus implements KeyEventBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(change: KeyChange): void {
    this.emitter.emit('change', change);
  }

  subscribe(listener: (change: KeyChange) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }
}
