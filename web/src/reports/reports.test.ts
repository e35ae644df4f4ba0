import { describe, expect, it } from 'vitest';
import { CHART_BOX, barLayout, lineLayout, niceStep, peakIndex } from './chart';
import { formatBucket, formatDuration, formatInstant, parseInstant, weekdayNames } from './format';
import { csvPath, fallbackFilename, filenameFrom, reportPath } from './request';
import { bucketsOf } from './types';
import { DEFAULT_FILTERS, filtersQuery, instantToWall, parseFilters, resolveWindow, wallToInstant, zoneOffsetMinutes } from './window';

const NOW = Date.parse('2026-12-01T12:00:00Z');

describe('report window', () => {
  it('ends quick ranges at the end of the current UTC hour, on whole hours', () => {
    const at = (range: '24h' | '7d' | '30d', now = NOW) => resolveWindow({ ...DEFAULT_FILTERS, range }, now);
    expect(at('24h')).toEqual({ from_ts: '2026-11-30T12:00:00.000Z', to_ts: '2026-12-01T12:00:00.000Z' });
    expect(at('7d').from_ts).toBe('2026-11-24T12:00:00.000Z');
    expect(at('30d').from_ts).toBe('2026-11-01T12:00:00.000Z');
    const later = Date.parse('2026-12-01T12:00:01Z');
    expect(at('24h', later)).toEqual({ from_ts: '2026-11-30T13:00:00.000Z', to_ts: '2026-12-01T13:00:00.000Z' });
    expect(at('7d', Date.parse('2026-12-01T12:59:59.999Z')).from_ts).toBe('2026-11-24T13:00:00.000Z');
  });

  it('keeps a custom window as chosen', () => {
    const filters = { ...DEFAULT_FILTERS, range: '' as const, from: '2026-11-01T03:00:00.000Z', to: '2026-11-02T03:00:00.000Z' };
    expect(resolveWindow(filters, NOW)).toEqual({ from_ts: '2026-11-01T03:00:00.000Z', to_ts: '2026-11-02T03:00:00.000Z' });
  });

  it('round-trips the filters through the URL, dropping what is malformed', () => {
    const filters = { ...DEFAULT_FILTERS, range: '' as const, from: '2026-11-01T03:00:00.000Z', to: '2026-11-02T03:00:00.000Z', tz: 'America/Sao_Paulo', min: '30', granularity: 'week' as const, person: '7' };
    expect(parseFilters(filtersQuery(filters))).toEqual(filters);
    expect(parseFilters(new URLSearchParams('range=1y&tz=Mars/Base&min=-5&person=x&granularity=hour'))).toEqual(DEFAULT_FILTERS);
    // A custom window needs both of its ends.
    expect(parseFilters(new URLSearchParams('range=custom&from=2026-11-01T00:00:00Z')).range).toBe('7d');
    expect(filtersQuery(DEFAULT_FILTERS).toString()).toBe('range=7d');
  });

  it('reads wall-clock times in the report zone, DST changes included', () => {
    expect(zoneOffsetMinutes(NOW, 'America/Sao_Paulo')).toBe(-180);
    expect(new Date(wallToInstant('2026-12-01T09:00', 'America/Sao_Paulo')).toISOString()).toBe('2026-12-01T12:00:00.000Z');
    expect(new Date(wallToInstant('2026-07-01T09:00', 'Europe/Lisbon')).toISOString()).toBe('2026-07-01T08:00:00.000Z');
    // Lisbon skips 01:00–02:00 on 2026-03-29: a skipped time moves forward with the clock.
    expect(new Date(wallToInstant('2026-03-29T01:30', 'Europe/Lisbon')).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    // And repeats 01:00–02:00 on 2026-10-25: the first occurrence (summer time) is meant.
    expect(new Date(wallToInstant('2026-10-25T01:30', 'Europe/Lisbon')).toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(instantToWall(Date.parse('2026-12-01T12:00:00Z'), 'America/Sao_Paulo')).toBe('2026-12-01T09:00');
    expect(instantToWall(Date.parse('2026-10-25T00:30:00Z'), 'Europe/Lisbon')).toBe('2026-10-25T01:30');
    expect(Number.isNaN(wallToInstant('yesterday', 'UTC'))).toBe(true);
  });
});

describe('formatting', () => {
  it('writes durations in the largest sensible units', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(45.4)).toBe('45 s');
    expect(formatDuration(60)).toBe('1 min');
    expect(formatDuration(725)).toBe('12 min 05 s');
    expect(formatDuration(3600)).toBe('1 h');
    expect(formatDuration(3 * 3600 + 7 * 60 + 59)).toBe('3 h 07 min');
    expect(formatDuration(2 * 86400 + 4 * 3600)).toBe('2 d 04 h');
    expect(formatDuration(86400)).toBe('1 d');
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
  });

  it('takes timestamps without an offset as UTC', () => {
    expect(parseInstant('2026-12-01T12:00:00')).toBe(NOW);
    expect(parseInstant('2026-12-01T12:00:00Z')).toBe(NOW);
    expect(parseInstant('2026-12-01T09:00:00-03:00')).toBe(NOW);
  });

  it('labels buckets in the chosen zone, else at the offset the API wrote', () => {
    expect(formatBucket('2026-12-01T12:00:00Z', 'hour', 'en', 'America/Sao_Paulo')).toBe('12/01, 09:00');
    expect(formatBucket('2026-12-01T00:00:00-03:00', 'day', 'pt', '')).toBe('01/12/2026');
    expect(formatBucket('2026-12-01T03:00:00Z', 'month', 'en', 'America/Sao_Paulo')).toBe('Dec 2026');
    expect(formatBucket('2026-01-01T00:00:00+00:00', 'year', 'pt', '')).toBe('2026');
    expect(formatInstant(null, 'en', '')).toBe('—');
  });

  it('names the days of the week from Sunday', () => {
    expect(weekdayNames('en')).toEqual(['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']);
  });
});

describe('chart geometry', () => {
  it('steps grid lines by round counts, or by round clock units for durations', () => {
    expect(niceStep(0, 'count')).toBe(1);
    expect(niceStep(3, 'count')).toBe(1);
    expect(niceStep(7, 'count')).toBe(2);
    expect(niceStep(18, 'count')).toBe(5);
    expect(niceStep(4100, 'count')).toBe(2000);
    expect(niceStep(0, 'duration')).toBe(1);
    expect(niceStep(100, 'duration')).toBe(30);
    expect(niceStep(3000, 'duration')).toBe(900);
    expect(niceStep(17_000, 'duration')).toBe(7200);
    expect(niceStep(30 * 86400, 'duration')).toBe(10 * 86400);
  });

  it('stands bars on the axis, stacked, as tall as their share of the scale', () => {
    const box = { ...CHART_BOX, width: 400, height: 200, left: 0, right: 0, top: 0, bottom: 0 };
    const layout = barLayout([[5, 5], [0, 0], [20, 0], [2, 3]], 'count', box);
    expect(layout.max).toBe(20);
    expect(layout.bars.map((b) => b.total)).toEqual([10, 0, 20, 5]);
    const [first, empty, full] = layout.bars;
    expect(first.segments).toEqual([
      { series: 0, value: 5, y: 150, height: 50 },
      { series: 1, value: 5, y: 100, height: 50 },
    ]);
    expect(empty.segments.every((s) => s.height === 0 && s.y === 200)).toBe(true);
    expect(full.segments[0]).toMatchObject({ y: 0, height: 200 });
    // Four slots of 100 with an 8-unit gap, labels wherever 44 units fit.
    expect(layout.bars.map((b) => b.x)).toEqual([4, 104, 204, 304]);
    expect(first.width).toBe(92);
    expect(first.center).toBe(50);
    expect(layout.labelEvery).toBe(1);
    expect(layout.ticks.map((t) => [t.value, t.y])).toEqual([[0, 200], [5, 150], [10, 100], [15, 50], [20, 0]]);
  });

  it('labels only every few bars when they are narrow', () => {
    expect(barLayout(Array.from({ length: 168 }, () => [1]), 'count').labelEvery).toBe(12);
    expect(barLayout([], 'count').bars).toEqual([]);
  });

  it('draws a line through the middle of each bucket and closes its area on the axis', () => {
    const box = { ...CHART_BOX, width: 300, height: 100, left: 0, right: 0, top: 0, bottom: 0 };
    const layout = lineLayout([0, 4, 8], 'count', box);
    expect(layout.max).toBe(8);
    expect(layout.line).toBe('M50,100 L150,50 L250,0');
    expect(layout.area).toBe('M50,100 L150,50 L250,0 L250,100 L50,100 Z');
    expect(lineLayout([], 'count', box).area).toBe('');
  });

  it('finds the first peak', () => {
    expect(peakIndex([0, 3, 1, 3])).toBe(1);
    expect(peakIndex([0, 0])).toBe(-1);
  });
});

describe('report requests', () => {
  it('leaves empty parameters to the API', () => {
    expect(reportPath('/reports/person/7/summary', { from_ts: '2026-11-24T12:00:00.000Z', to_ts: '2026-12-01T12:00:00.000Z', time_zone: '', min_duration_seconds: undefined })).toBe(
      '/reports/person/7/summary?from_ts=2026-11-24T12%3A00%3A00.000Z&to_ts=2026-12-01T12%3A00%3A00.000Z',
    );
    expect(reportPath('/reports/overview', { time_zone: 'America/Sao_Paulo', limit: 0 })).toBe('/reports/overview?time_zone=America%2FSao_Paulo&limit=0');
    expect(reportPath('/reports/overview', {})).toBe('/reports/overview');
  });

  it('asks for the same report as CSV', () => {
    expect(csvPath('/reports/overview?from_ts=a&to_ts=b')).toBe('/reports/overview?from_ts=a&to_ts=b&format=csv');
    expect(csvPath('/reports/overview')).toBe('/reports/overview?format=csv');
    expect(csvPath('/reports/overview?format=json')).toBe('/reports/overview?format=csv');
  });

  it('saves under the name the appliance gives, never outside the downloads folder', () => {
    expect(filenameFrom('attachment; filename="overview-2026-11-24-2026-12-01.csv"', 'x.csv')).toBe('overview-2026-11-24-2026-12-01.csv');
    expect(filenameFrom("attachment; filename*=UTF-8''relat%C3%B3rio.csv", 'x.csv')).toBe('relatório.csv');
    expect(filenameFrom('attachment; filename=plain.csv', 'x.csv')).toBe('plain.csv');
    expect(filenameFrom('attachment; filename="../../etc/passwd"', 'x.csv')).toBe('passwd');
    expect(filenameFrom(null, 'x.csv')).toBe('x.csv');
    expect(filenameFrom('attachment', 'x.csv')).toBe('x.csv');
    expect(fallbackFilename('/reports/person/7/summary?from_ts=a', { from_ts: '2026-11-24T12:00:00.000Z', to_ts: '2026-12-01T12:00:00.000Z' })).toBe('person-7-summary-2026-11-24-2026-12-01.csv');
  });

  it('reads bucket lists bare or wrapped', () => {
    expect(bucketsOf([1, 2])).toEqual([1, 2]);
    expect(bucketsOf({ buckets: [3] })).toEqual([3]);
    expect(bucketsOf(null)).toEqual([]);
  });
});
