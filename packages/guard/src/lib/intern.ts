/**
 * One shared copy of values many cached keys hold alike (a tenant id, an IP allowlist and its
 * compiled matcher, a model list): a key cache of 200,000 keys whose keys mostly share a handful
 * of allowlists then holds a handful of matchers, not 200,000. Shared values are never changed
 * (arrays and objects handed out are frozen, so a mistaken write throws instead of leaking into
 * other keys).
 *
 * Bounded: past `max` distinct values the table starts over (values handed out stay valid; only
 * the sharing of new ones restarts), so values that are all different cost a little work, never
 * memory.
 */
export class Interner<T> {
  private table = new Map<string, T>();

  constructor(private readonly max = 4096) {}

  /** The shared value for `text`, made by `make` the first time. */
  get(text: string, make: (text: string) => T): T {
    let value = this.table.get(text);
    if (value === undefined) {
      value = make(text);
      if (this.table.size >= this.max) this.table = new Map();
      this.table.set(text, value);
    }
    return value;
  }
}

/** A string from the driver as the one shared copy of it (ids of tenants, enumerations). */
export class StringInterner {
  private readonly strings = new Interner<string>();

  get<S extends string | null>(value: S): S {
    return (value === null ? null : this.strings.get(value, (text) => text)) as S;
  }
}

/** A JSON list of strings as one shared, frozen array per distinct text. */
export function internedList(interner: Interner<readonly string[]>, text: string): string[] {
  return interner.get(text, (json) => Object.freeze(JSON.parse(json) as string[])) as string[];
}
