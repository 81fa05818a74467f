import type { Response } from 'express';
import { csvLine } from '../lib/csv';
import { writeSliced } from './sliced-response';

/** A table for a CSV export: the header row and the rows in the same column order. */
export interface CsvTable {
  header: string[];
  rows: unknown[][];
}

/**
 * Answers `table` as a CSV download named `filename` (letters, digits, `.`, `_`, `-` only), never
 * stored by browsers or proxies (an export is a tenant's data, from /api or a dashboard session).
 */
export async function sendCsv(res: Response, filename: string, table: CsvTable): Promise<void> {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`);
  // Up to 10,000 rows: written a slice at a time (see sliced-response.ts); the bytes of toCsv().
  await writeSliced(res, csvLine(table.header), table.rows, (slice) => slice.map(csvLine).join(''), '');
}
