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
  first: number;
  last: number;
  prev: string | null;
  next: string | null;
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
  return {
    page,
    pages,
    total,
    size,
    first: total === 0 ? 0 : (page - 1) * size + 1,
    last: Math.min(total, page * size),
    prev: page > 1 ? href(path, { ...params, page: Math.min(page - 1, pages) }) : null,
    next: page < pages ? href(path, { ...params, page: page + 1 }) : null,
  };
}
