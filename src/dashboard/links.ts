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
}

/** Pagination links for `path` with `params` (the current filters). */
export function paginate(
  path: string,
  params: Record<string, string | number | null | undefined>,
  page: number,
  size: number,
  total: number,
): Pagination {
  const pages = Math.max(1, Math.ceil(total / size));
  const beyond = page > pages;
  return {
    page,
    pages,
    total,
    size,
    first: total === 0 || beyond ? 0 : (page - 1) * size + 1,
    last: beyond ? 0 : Math.min(total, page * size),
    beyond,
    prev: page > 1 ? href(path, { ...params, page: Math.min(page - 1, pages) }) : null,
    next: page < pages ? href(path, { ...params, page: page + 1 }) : null,
    lastPage: href(path, { ...params, page: pages }),
    path,
    keep: Object.entries(params).flatMap(([name, value]) =>
      value === undefined || value === null || value === '' || name === 'page' ? [] : [[name, String(value)] as [string, string]],
    ),
  };
}
