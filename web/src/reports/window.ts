// The report window and filters: quick ranges relative to "now", a custom window typed as
// wall-clock time in the report's time zone, and the filters kept in the page's URL (so a
// report can be reloaded, bookmarked and shared as it is).

export const QUICK_RANGES = { '24h': 24, '7d': 7 * 24, '30d': 30 * 24 } as const;
export type QuickRange = keyof typeof QUICK_RANGES;
export const GRANULARITIES = ['day', 'week', 'month', 'year'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

const HOUR_MS = 3_600_000;

/** What the page's URL holds. Empty strings mean "not chosen" (the API's default). */
export interface ReportFilters {
  /** A quick range, or '' for the custom window `from`–`to`. */
  range: QuickRange | '';
  /** ISO-8601 instants of a custom window. */
  from: string;
  to: string;
  /** An IANA time zone, or '' for the site's (`site.time_zone`, the API's default). */
  tz: string;
  /** `min_duration_seconds`, digits only. */
  min: string;
  granularity: Granularity;
  person: string;
  group: string;
  gateway: string;
  building: string;
  tag: string;
}

export const DEFAULT_FILTERS: ReportFilters = {
  range: '7d',
  from: '',
  to: '',
  tz: '',
  min: '',
  granularity: 'day',
  person: '',
  group: '',
  gateway: '',
  building: '',
  tag: '',
};

const isQuick = (value: string | null): value is QuickRange => value !== null && value in QUICK_RANGES;
const isGranularity = (value: string | null): value is Granularity => GRANULARITIES.includes(value as Granularity);
const digits = (value: string | null) => (value && /^\d+$/.test(value) ? value : '');

/** The filters of a URL query; anything malformed falls back to its default. */
export function parseFilters(query: URLSearchParams): ReportFilters {
  const from = query.get('from') ?? '';
  const to = query.get('to') ?? '';
  const range = query.get('range');
  const custom = range === 'custom' && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to));
  return {
    range: custom ? '' : isQuick(range) ? range : DEFAULT_FILTERS.range,
    from: custom ? from : '',
    to: custom ? to : '',
    tz: isTimeZone(query.get('tz') ?? '') ? (query.get('tz') ?? '') : '',
    min: digits(query.get('min')),
    granularity: isGranularity(query.get('granularity')) ? (query.get('granularity') as Granularity) : DEFAULT_FILTERS.granularity,
    person: digits(query.get('person')),
    group: digits(query.get('group')),
    gateway: digits(query.get('gateway')),
    building: digits(query.get('building')),
    tag: digits(query.get('tag')),
  };
}

/** The URL query of the filters, without the defaults. */
export function filtersQuery(filters: ReportFilters): URLSearchParams {
  const query = new URLSearchParams();
  query.set('range', filters.range || 'custom');
  if (!filters.range) {
    query.set('from', filters.from);
    query.set('to', filters.to);
  }
  for (const key of ['tz', 'min', 'person', 'group', 'gateway', 'building', 'tag'] as const) {
    if (filters[key]) query.set(key, filters[key]);
  }
  if (filters.granularity !== DEFAULT_FILTERS.granularity) query.set('granularity', filters.granularity);
  return query;
}

export interface ReportWindow {
  from_ts: string;
  to_ts: string;
}

/**
 * The window the reports ask for: a quick range ends at the end of the current UTC hour (so
 * it covers now, and the appliance answers it from its hourly rollups instead of reading
 * every session of the window: BENCHMARKS.md, "Reports at 10 million sessions"); a custom
 * one is as chosen.
 */
export function resolveWindow(filters: ReportFilters, now: number): ReportWindow {
  if (filters.range) {
    const hours = QUICK_RANGES[filters.range];
    const end = Math.ceil(now / HOUR_MS) * HOUR_MS;
    return { from_ts: new Date(end - hours * HOUR_MS).toISOString(), to_ts: new Date(end).toISOString() };
  }
  return { from_ts: new Date(filters.from).toISOString(), to_ts: new Date(filters.to).toISOString() };
}

function isTimeZone(zone: string): boolean {
  if (!zone) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The time zones to choose from: the browser's own and UTC first, then every other one. */
export function timeZoneChoices(browserZone: string): string[] {
  const all = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const first = [browserZone, 'UTC'].filter((z, i, list) => z && list.indexOf(z) === i);
  return [...first, ...all.filter((z) => !first.includes(z))];
}

/** Minutes east of UTC of `zone` at the instant `ms`. */
export function zoneOffsetMinutes(ms: number, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((wall - Math.floor(ms / 1000) * 1000) / 60_000);
}

const WALL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/;

/**
 * The instant of a wall-clock time (`YYYY-MM-DDTHH:MM`, a datetime-local input's value) in
 * `zone`, or in the browser's zone without one. A time skipped by a DST change moves forward
 * with the clock; a repeated one is its first occurrence.
 */
export function wallToInstant(wall: string, zone: string): number {
  const m = WALL.exec(wall);
  if (!m) return Number.NaN;
  if (!zone) return new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]).getTime();
  const asUtc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  // The zone's offsets a day either side: around a DST change they differ, and the wall time
  // is valid under both (repeated), one, or neither (skipped).
  const offsets = [zoneOffsetMinutes(asUtc - 86_400_000, zone), zoneOffsetMinutes(asUtc + 86_400_000, zone)];
  const valid = offsets.map((o) => asUtc - o * 60_000).filter((t) => instantToWall(t, zone) === wall.slice(0, 16));
  return valid.length ? Math.min(...valid) : asUtc - offsets[0] * 60_000;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The wall-clock time (`YYYY-MM-DDTHH:MM`) of an instant in `zone` (or the browser's). */
export function instantToWall(ms: number, zone: string): string {
  const d = new Date(zone ? ms + zoneOffsetMinutes(ms, zone) * 60_000 : ms);
  return zone
    ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
