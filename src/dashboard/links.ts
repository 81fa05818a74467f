/** Builds links that keep a list's filters: `href('/keys', { status: 'active', page: 2 })`. */
export function href(path: string, params: Record<string, string | number | null | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** Pagination of a list: where we are and the links around. */
export interface Pagination {
  page: number;
  pages: number;
  total: number;
  size: number;
  /** Positions shown on this page (1-based); 0 and 0 when the page is empty. */
  first: number;
  last: number;
  /** A page past the end was asked for (`?page=102` of 101): it is empty. */
  beyond: boolean;
  prev: string | null;
  next: string | null;
  /** The last page's link (for "go to the last page"). */
  lastPage: string;
  /** Where the page-jump form goes, and the filters it keeps (hidden fields). */
  path: string;
  keep: [string, string][];
  /** More matches than were counted: `total` is a lower bound ("more than 10,000"). */
  capped: boolean;
  /** A page reached by a cursor (past the numbered pages): its position is not known. */
  cursor: boolean;
}

/** Keyset pagination of a long list: the next page's cursor, whether this page came from one. */
export interface CursorOptions {
  capped?: boolean;
  nextCursor?: string | null;
  /** This page was asked for with a cursor. */
  onCursor?: boolean;
}

/** Pagination links for `path` with `params` (the current filters). */
export function paginate(
  path: string,
  params: Record<string, string | number | null | undefined>,
  page: number,
  size: number,
  total: number,
  options: CursorOptions = {},
): Pagination {
  const pages = Math.max(1, Math.ceil(total / size));
  const beyond = page > pages;
  // Past the numbered pages (a capped count), "Next" follows the cursor; "Previous" starts over.
  const cursorNext = options.nextCursor ? href(path, { ...params, cursor: options.nextCursor }) : null;
  if (options.onCursor) {
    return {
      page,
      pages,
      total,
      size,
      first: 0,
      last: 0,
      beyond: false,
      prev: href(path, params),
      next: cursorNext,
      lastPage: href(path, { ...params, page: pages }),
      path,
      keep: keepOf(params),
      capped: Boolean(options.capped),
      cursor: true,
    };
  }
  return {
    capped: Boolean(options.capped),
    cursor: false,
    page,
    pages,
    total,
    size,
    first: total === 0 || beyond ? 0 : (page - 1) * size + 1,
    last: beyond ? 0 : Math.min(total, page * size),
    beyond,
    prev: page > 1 ? href(path, { ...params, page: Math.min(page - 1, pages) }) : null,
    next: page < pages ? href(path, { ...params, page: page + 1 }) : options.capped && !beyond ? cursorNext : null,
    lastPage: href(path, { ...params, page: pages }),
    path,
    keep: keepOf(params),
  };
}

/** The filters a page-jump form keeps as hidden fields. */
function keepOf(params: Record<string, string | number | null | undefined>): [string, string][] {
  return Object.entries(params).flatMap(([name, value]) =>
    value === undefined || value === null || value === '' || name === 'page' || name === 'cursor' ? [] : [[name, String(value)] as [string, string]],
  );
}
