// Building report requests (a path with its query, empty values left to the API's defaults),
// the CSV variant of any report (`format=csv`) and the name it is saved under.
import type { ReportWindow } from './window';

export type QueryValue = string | number | null | undefined;

/** `path?query`, leaving out empty values (the API's default applies to them). */
export function reportPath(path: string, query: Record<string, QueryValue>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** The same report as CSV. */
export function csvPath(path: string): string {
  const [base, query = ''] = path.split('?', 2);
  const params = new URLSearchParams(query);
  params.set('format', 'csv');
  return `${base}?${params}`;
}

/** The file name a `Content-Disposition` header gives, else `fallback`. */
export function filenameFrom(disposition: string | null, fallback: string): string {
  if (disposition) {
    const encoded = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
    if (encoded) {
      try {
        return safeName(decodeURIComponent(encoded[1].trim()), fallback);
      } catch {
        // a malformed escape: try the plain parameter
      }
    }
    const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(disposition);
    if (plain) return safeName((plain[2] ?? plain[1]).trim(), fallback);
  }
  return fallback;
}

/** No directories in a saved file's name. */
function safeName(name: string, fallback: string): string {
  const base = name.split(/[\\/]/).pop()?.trim() ?? '';
  return base || fallback;
}

/** A name for a report's CSV when the appliance gives none: `person-summary-2026-12-01.csv`. */
export function fallbackFilename(path: string, window: ReportWindow): string {
  const name = path
    .split('?')[0]
    .replace(/^\/reports\//, '')
    .replace(/[^a-z0-9]+/gi, '-')
    .replace(/^-|-$/g, '');
  return `${name || 'report'}-${window.from_ts.slice(0, 10)}-${window.to_ts.slice(0, 10)}.csv`;
}
