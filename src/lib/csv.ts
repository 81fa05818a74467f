/**
 * CSV for exports (RFC 4180: comma separated, CRLF line ends, fields with a quote, comma, CR or LF
 * quoted with inner quotes doubled) that is safe to open in a spreadsheet: a text cell starting
 * with `=`, `+`, `-`, `@`, a tab or a CR would be read as a formula (CSV injection), so it gets a
 * leading `'`. Numbers are written as numbers (a negative number stays a number).
 */

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** One cell: null and undefined are empty, dates ISO 8601, objects JSON, text made formula-safe. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  let text = value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row as a line, ending with CRLF. */
export function csvLine(row: readonly unknown[]): string {
  return `${row.map(csvCell).join(',')}\r\n`;
}

/** A whole document: the header row, then one line per row, each ending with CRLF. */
export function toCsv(header: string[], rows: unknown[][]): string {
  return [header, ...rows].map(csvLine).join('');
}
