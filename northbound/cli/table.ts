// Aligned text tables for the CLI's human output (no dependencies).

/** A cell's text: '-' for null/undefined/'', JSON for objects and arrays. */
export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v).replace(/[\r\n\t]+/g, ' ');
}

/**
 * Columns padded to their widest cell, two spaces apart; the last column is
 * not padded. A row given as a string is printed as it is (a note between
 * rows, e.g. a tunnel crossing) and does not widen the columns.
 */
export function table(headers: string[], rows: (unknown[] | string)[]): string {
  const cells = rows.map((r) => (typeof r === 'string' ? r : r.map(cell)));
  const width = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (typeof r === 'string' ? 0 : (r[i] ?? '').length))));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ').trimEnd();
  return [line(headers), ...cells.map((r) => (typeof r === 'string' ? r : line(r)))].join('\n') + '\n';
}

/** One object as FIELD VALUE lines (for `get`). */
export function fields(o: Record<string, unknown>): string {
  return table(['FIELD', 'VALUE'], Object.entries(o).map(([k, v]) => [k, v]));
}
