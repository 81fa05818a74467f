/**
 * The remote guard's short cache of verify answers. Entries are found by a keyed hash (HMAC with a
 * secret of this process) of the presented key and everything else the answer depended on (client
 * address, scopes, model, chatbot): the plain key is never stored. Each entry also knows its key's
 * id, so a change of that key on the feed drops every entry of it.
 *
 * Race: a verify call may be answered just after the feed announced a change of its key (the
 * answer read the key before the change). An answer is therefore stored only when neither its
 * key changed nor the cache was cleared since the call started (a ticket taken before the call).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { VerifyAnswer } from './verify-answer';

/** What a verify answer depended on, besides the key's own settings. */
export interface DescribedRequest {
  key: string;
  ip: string | undefined;
  scopes: readonly string[];
  model: string | undefined;
  chatbot: string | undefined;
}

/** Taken before a verify call; storing its answer is refused if things changed meanwhile. */
export interface CacheTicket {
  generation: number;
  sequence: number;
}

interface Entry {
  keyId: string;
  answer: VerifyAnswer;
  expiresAt: number;
}

/** Changes remembered per key id before the cache prefers to start over. */
const MAX_CHANGE_MARKS = 10_000;

export class VerdictCache {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  private readonly byKey = new Map<string, Set<string>>();
  /** The sequence number of each key's latest change (since the last clear). */
  private readonly changedAt = new Map<string, number>();
  private generation = 0;
  private sequence = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  /** Entries held (expired ones included until they are next looked at). */
  get size(): number {
    return this.entries.size;
  }

  /** The lookup key of a described request. */
  fingerprint(request: DescribedRequest): string {
    const scopes = [...request.scopes].sort();
    const material = JSON.stringify([request.key, request.ip ?? '', scopes, request.model ?? null, request.chatbot ?? null]);
    return createHmac('sha256', this.secret).update(material).digest('base64url');
  }

  get(fingerprint: string): VerifyAnswer | undefined {
    const entry = this.entries.get(fingerprint);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.remove(fingerprint, entry);
      return undefined;
    }
    return entry.answer;
  }

  ticket(): CacheTicket {
    return { generation: this.generation, sequence: this.sequence };
  }

  /** Stores an answer for `ttlMs`, unless its key changed or the cache was cleared since `ticket`. */
  set(fingerprint: string, answer: VerifyAnswer & { key: { id: string } }, ttlMs: number, ticket: CacheTicket): boolean {
    const keyId = answer.key.id;
    if (ticket.generation !== this.generation || (this.changedAt.get(keyId) ?? -1) > ticket.sequence || ttlMs <= 0) return false;
    const old = this.entries.get(fingerprint);
    if (old) this.remove(fingerprint, old);
    // Oldest first out: Map iteration follows insertion order.
    while (this.entries.size >= this.maxEntries) {
      const [oldest, entry] = this.entries.entries().next().value as [string, Entry];
      this.remove(oldest, entry);
    }
    this.entries.set(fingerprint, { keyId, answer, expiresAt: this.now() + ttlMs });
    let set = this.byKey.get(keyId);
    if (!set) this.byKey.set(keyId, (set = new Set()));
    set.add(fingerprint);
    return true;
  }

  /** Drops every entry of a key that changed (and refuses answers to calls already under way). */
  evictKey(keyId: string): void {
    if (this.changedAt.size >= MAX_CHANGE_MARKS) {
      this.clear();
      return;
    }
    this.changedAt.set(keyId, ++this.sequence);
    const set = this.byKey.get(keyId);
    if (!set) return;
    for (const fingerprint of set) this.entries.delete(fingerprint);
    this.byKey.delete(keyId);
  }

  /** Drops everything (feed reset, reconnection, disconnection). */
  clear(): void {
    this.generation++;
    this.entries.clear();
    this.byKey.clear();
    this.changedAt.clear();
  }

  private remove(fingerprint: string, entry: Entry): void {
    this.entries.delete(fingerprint);
    const set = this.byKey.get(entry.keyId);
    set?.delete(fingerprint);
    if (set?.size === 0) this.byKey.delete(entry.keyId);
  }
}
