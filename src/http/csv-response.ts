import type { Response } from 'express';
import { toCsv } from '../lib/csv';

/** A table for a CSV export: the header row and the rows in the same column order. */
export interface CsvTable {
  header: string[];
  rows: unknown[][];
}

/**
 * Answers `table` as a CSV download named `filename` (letters, digits, `.`, `_`, `-` only), never
 * stored by browsers or proxies (an export is a tenant's data, from /api or a dashboard session).
 */
export function sendCsv(res: Response, filename: string, table: CsvTable): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`);
  res.send(toCsv(table.header, table.rows));
}
