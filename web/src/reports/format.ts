// How report numbers and times read: durations in s/min/h/d, buckets in the report's zone.
import type { Language } from '../i18n/i18n';

const pad = (n: number) => String(n).padStart(2, '0');

/** A duration in seconds as "45 s", "12 min 05 s", "3 h 07 min", "2 d 04 h"; "—" when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${pad(s % 60)} s` : `${s / 60} min`;
  if (s < 86400) {
    const minutes = Math.floor((s % 3600) / 60);
    return minutes ? `${Math.floor(s / 3600)} h ${pad(minutes)} min` : `${Math.floor(s / 3600)} h`;
  }
  const hours = Math.floor((s % 86400) / 3600);
  return hours ? `${Math.floor(s / 86400)} d ${pad(hours)} h` : `${Math.floor(s / 86400)} d`;
}

export const localeOf = (language: Language) => (language === 'pt' ? 'pt-BR' : 'en');

export function formatNumber(value: number | null | undefined, language: Language, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString(localeOf(language), { maximumFractionDigits: digits });
}

const OFFSET = /([+-])(\d{2}):?(\d{2})$/;

/** An API timestamp as epoch milliseconds; one without an offset is UTC (the API's rule). */
export function parseInstant(iso: string): number {
  return /(Z|[+-]\d{2}:?\d{2})$/i.test(iso) ? Date.parse(iso) : Date.parse(`${iso}Z`);
}

/**
 * The options to show a timestamp in the report's zone: the chosen `zone`; without one (the
 * site's zone, which the console does not know) the offset the API wrote, which is the
 * site's; without an offset either, the browser's zone.
 */
function zoned(iso: string, zone: string): { at: Date; timeZone: string | undefined } {
  const ms = parseInstant(iso);
  if (zone) return { at: new Date(ms), timeZone: zone };
  const m = OFFSET.exec(iso);
  if (!m) return { at: new Date(ms), timeZone: undefined };
  const minutes = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return { at: new Date(ms + minutes * 60_000), timeZone: 'UTC' };
}

export type BucketSize = 'hour' | 'day' | 'week' | 'month' | 'year';

const BUCKET_FORMAT: Record<BucketSize, Intl.DateTimeFormatOptions> = {
  hour: { day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  day: { day: '2-digit', month: '2-digit', year: 'numeric' },
  week: { day: '2-digit', month: '2-digit', year: 'numeric' },
  month: { month: 'short', year: 'numeric' },
  year: { year: 'numeric' },
};

/** A bucket's start as its size reads: "01/12 14:00", "01/12/2026", "dez. de 2026", "2026". */
export function formatBucket(iso: string, size: BucketSize, language: Language, zone: string): string {
  const { at, timeZone } = zoned(iso, zone);
  return new Intl.DateTimeFormat(localeOf(language), { ...BUCKET_FORMAT[size], timeZone }).format(at);
}

/** A full date and time in the report's zone; "—" when there is none. */
export function formatInstant(iso: string | null | undefined, language: Language, zone: string): string {
  if (!iso) return '—';
  const { at, timeZone } = zoned(iso, zone);
  return new Intl.DateTimeFormat(localeOf(language), { dateStyle: 'short', timeStyle: 'medium', timeZone }).format(at);
}

/** Short weekday names, 0 = Sunday (the API's day_of_week). */
export function weekdayNames(language: Language): string[] {
  const format = new Intl.DateTimeFormat(localeOf(language), { weekday: 'short', timeZone: 'UTC' });
  // 2023-01-01 was a Sunday.
  return Array.from({ length: 7 }, (_, d) => format.format(new Date(Date.UTC(2023, 0, 1 + d))));
}

export const hourLabel = (hour: number) => `${pad(hour)}h`;
