/**
 * What a person typed survives the end of their session. A form sent from this site after its
 * session ended (idle timeout, signed out in another tab) fails the CSRF check, so nothing it
 * asked for happens; instead of a bare 403 the sign-in page is shown with the form's fields
 * sealed in a hidden field (AES-GCM under a key derived from SESSION_SECRET, like one-time
 * secrets; nothing is stored for anonymous visitors). After sign-in the draft moves into the new
 * session and the person lands on the form again, filled in, to check it and send it with a
 * fresh token: a draft is never acted on by itself.
 *
 * Only forms listed here are kept, never passwords, secrets or tokens, and only when the
 * browser says the form came from this site (Sec-Fetch-Site: same-origin, or a matching
 * Origin): a foreign page cannot plant a filled-in form.
 */
import type { Request } from 'express';
import type { FormValues } from './key-form';
import { SecretBox } from './secret-box';
import { SIGN_IN_FORM_LIFETIME_MS } from './sign-in-csrf';

declare module 'express-session' {
  interface SessionData {
    /** A form kept across sign-in, sealed, for the page that shows that form (`page`). */
    formDraft?: { page: string; sealed: string };
  }
}

/** The forms kept across sign-in: the path they are sent to → the page that shows them. */
const KEPT_FORMS: { post: RegExp; page: (match: RegExpExecArray) => string }[] = [
  { post: /^\/keys$/, page: () => '/keys/new' },
  { post: /^\/keys\/([0-9A-Za-z]{12})\/edit$/, page: (m) => `/keys/${m[1]}/edit` },
  { post: /^\/members$/, page: () => '/members' },
  { post: /^\/users$/, page: () => '/users' },
  { post: /^\/tenants$/, page: () => '/tenants' },
];

/** Fields never kept, whatever the form. */
const NEVER_KEPT = /password|secret|token|^_csrf$/i;

/** A sealed draft larger than this is not kept (it travels in a form field and the session row). */
const MAX_SEALED = 48_000;

/** A kept form: the page to fill in again, and its values. */
export interface FormDraft {
  page: string;
  values: FormValues;
}

/** True when the browser says the request came from a page of this site. */
export function fromThisSite(req: Request, publicUrl: string | null): boolean {
  const site = req.get('sec-fetch-site');
  if (site) return site === 'same-origin';
  const origin = req.get('origin');
  if (!origin) return false;
  const own = publicUrl ? new URL(publicUrl).origin : `${req.protocol}://${req.get('host')}`;
  return origin === own;
}

/** Seals and opens form drafts. */
export class FormDrafts {
  private readonly box: SecretBox;

  constructor(
    sessionSecret: string,
    private readonly clock: () => Date,
    private readonly lifetimeMs = SIGN_IN_FORM_LIFETIME_MS,
  ) {
    this.box = new SecretBox(sessionSecret, 'dashboard form drafts');
  }

  /** The page showing the form sent to `path`, or null when that form is not kept. */
  pageFor(path: string): string | null {
    for (const form of KEPT_FORMS) {
      const match = form.post.exec(path);
      if (match) return form.page(match);
    }
    return null;
  }

  /** The kept fields of a form sent to `path`, sealed; null when the form is not kept or too large. */
  seal(path: string, body: unknown): string | null {
    const page = this.pageFor(path);
    if (!page) return null;
    const values: FormValues = {};
    for (const [name, value] of Object.entries((body ?? {}) as Record<string, unknown>)) {
      if (NEVER_KEPT.test(name)) continue;
      if (typeof value === 'string') values[name] = value;
      else if (Array.isArray(value)) values[name] = value.filter((v): v is string => typeof v === 'string');
    }
    const sealed = this.box.seal(JSON.stringify({ page, values, at: this.clock().getTime() }));
    return sealed.length <= MAX_SEALED ? sealed : null;
  }

  /** A draft sealed here, unaltered and younger than its lifetime; else null. */
  open(sealed: unknown): FormDraft | null {
    if (typeof sealed !== 'string' || sealed.length > MAX_SEALED) return null;
    const text = this.box.open(sealed);
    if (!text) return null;
    try {
      const draft = JSON.parse(text) as { page?: unknown; values?: unknown; at?: unknown };
      const age = this.clock().getTime() - Number(draft.at);
      if (!(age >= 0 && age <= this.lifetimeMs)) return null;
      // Sealed (and authenticated) only by seal(): the page is one of KEPT_FORMS'.
      if (typeof draft.page !== 'string' || typeof draft.values !== 'object' || draft.values === null) return null;
      return { page: draft.page, values: draft.values as FormValues };
    } catch {
      return null;
    }
  }

  /**
   * The values kept for `page` in this session, taken out of it (a draft fills a form once), or
   * null. Pages call it when they render their form.
   */
  take(req: Request, page: string): FormValues | null {
    const stored = req.session?.formDraft;
    if (!stored || stored.page !== page) return null;
    delete req.session.formDraft;
    const draft = this.open(stored.sealed);
    if (!draft || draft.page !== page) return null;
    req.session.flash = { kind: 'info', message: 'Your session had ended, so nothing was saved. What you typed is back (passwords are never kept): check it and send it again.' };
    return draft.values;
  }
}
