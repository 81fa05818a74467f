/**
 * Renders dashboard pages: EJS templates under views/, each inside views/layout.ejs, with what
 * every page needs (the signed-in person, the CSRF token, the one-time flash message, the
 * formatting helpers). Rendering is synchronous so the error handler can use it too.
 */
import fs from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import type { Request, Response } from 'express';
import { AppError } from '../errors';
import { csrfTokenOf } from './csrf';
import { fmt } from './format';

/** views/ at the project root (the same from src/dashboard and dist/dashboard). */
export const VIEWS_DIR = path.join(__dirname, '..', '..', 'views');

type Template = (locals: Record<string, unknown>) => string;

/** Renders templates by name ("keys/list"), compiled once. */
export class ViewRenderer {
  private readonly compiled = new Map<string, Template>();

  constructor(private readonly root: string = VIEWS_DIR) {}

  render(name: string, locals: Record<string, unknown>): string {
    let template = this.compiled.get(name);
    if (!template) {
      const filename = path.join(this.root, `${name}.ejs`);
      // Includes are resolved relative to the including file and cached by ejs under their path.
      template = ejs.compile(fs.readFileSync(filename, 'utf8'), { filename, cache: true }) as Template;
      this.compiled.set(name, template);
    }
    return template(locals);
  }
}

/** Options of a page beyond its own locals. */
export interface PageOptions {
  status?: number;
  /** Never stored by browsers or proxies (pages showing secrets); other pages are private, no-cache. */
  noStore?: boolean;
}

/** What renders pages for the routes and the error handler. */
export class Pages {
  constructor(
    private readonly views: ViewRenderer,
    private readonly clock: () => Date,
  ) {}

  /** Sends a page: `view` inside the layout, with `locals` (must include `title`). */
  send(req: Request, res: Response, view: string, locals: Record<string, unknown> & { title: string }, options: PageOptions = {}): void {
    // Pages show a person's data: never kept by shared caches, always revalidated by the browser.
    res.setHeader('Cache-Control', options.noStore ? 'no-store' : 'private, no-cache');
    res.status(options.status ?? 200).type('html').send(this.html(req, view, locals));
  }

  /** The HTML of a page in the layout. */
  html(req: Request, view: string, locals: Record<string, unknown> & { title: string }): string {
    const all = { ...this.common(req), ...locals };
    return this.views.render('layout', { ...all, body: this.views.render(view, all) });
  }

  /**
   * The error page for people (the error handler's renderPage hook), or null for the JSON body:
   * /api and /healthz always keep JSON; dashboard routes always answer with a page; any other
   * (unknown) path gets the page when the client asks for HTML, as browsers do, and the JSON 404
   * otherwise (scripts and API clients probing the host).
   */
  errorPage(req: Request, error: AppError): string | null {
    const url = req.originalUrl || req.url;
    if (url === '/api' || url.startsWith('/api/') || url.startsWith('/api?') || url.startsWith('/healthz')) return null;
    if (!req.route && !wantsHtml(req)) return null;
    const view = errorView(error, req.id);
    try {
      return this.html(req, 'error', { title: view.heading, error: view });
    } catch {
      // The layout itself failed (a broken template, the session store gone): a bare page, still without internals.
      return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Keyward</title></head><body><h1>${view.status}</h1><p>${ejs.escapeXML(view.message)}</p></body></html>`;
    }
  }

  private common(req: Request): Record<string, unknown> {
    const flash = req.session?.flash;
    if (flash && req.session) delete req.session.flash;
    return {
      viewer: req.viewer ?? null,
      // Only signed-in people get the session's token: creating one would store a session for
      // every anonymous page. The sign-in form brings its own token (sign-in-csrf.ts).
      csrfToken: req.viewer && req.session ? csrfTokenOf(req) : '',
      flash: flash ?? null,
      path: req.path,
      now: this.clock(),
      fmt,
      values: {},
      errors: {},
    };
  }
}

/** True when the client lists HTML before JSON in its Accept header (browsers do). */
function wantsHtml(req: Request): boolean {
  return Boolean(req.headers.accept) && req.accepts(['json', 'html']) === 'html';
}

/** What the error page says: no stack traces, no internals; 404s all read the same. */
export function errorView(error: AppError, requestId: string) {
  if (error.status === 404) {
    return {
      status: 404,
      heading: 'Page not found',
      message: 'There is nothing here, or it is not yours to see. Check the address, or go back to the overview.',
      details: [],
    };
  }
  if (error.status >= 500) {
    return {
      status: error.status,
      heading: 'Something went wrong',
      message: `Something went wrong on our side. Try again in a moment; if it keeps happening, quote request id ${requestId}.`,
      details: [],
    };
  }
  const headings: Record<number, string> = {
    400: 'That did not work',
    401: 'Sign in required',
    403: 'Not allowed',
    409: 'That cannot be done now',
    429: 'Too many attempts',
  };
  return {
    status: error.status,
    heading: headings[error.status] ?? 'That did not work',
    message: error.message,
    details: error.details ?? [],
  };
}

/** Turns an AppError's field issues into messages by form field (first message per field). */
export function fieldErrors(error: unknown, rename: (field: string) => string = (f) => f): Record<string, string> | null {
  if (!(error instanceof AppError) || !error.details || error.status >= 500 || error.status === 404) return null;
  const errors: Record<string, string> = {};
  for (const issue of error.details) {
    const field = rename(issue.field);
    errors[field] = errors[field] ? `${errors[field]}; ${issue.message}` : issue.message;
  }
  return errors;
}
