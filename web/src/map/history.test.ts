import { describe, expect, it } from 'vitest';
import { heatmapPath, historyPath, lastHours, parseWindow, toLocalInput } from './history';

describe('history queries', () => {
  it('asks for one person on the plan, or everybody on it', () => {
    const window = { from: '2026-12-01T14:00:00.000Z', to: '2026-12-01T15:00:00.000Z' };
    expect(historyPath({ planId: 1, personId: 7, ...window })).toBe(
      '/positions/history?floor_plan_id=1&person_id=7&from_ts=2026-12-01T14%3A00%3A00.000Z&to_ts=2026-12-01T15%3A00%3A00.000Z',
    );
    expect(historyPath({ planId: 1, personId: null, ...window })).toBe(
      '/positions/history?floor_plan_id=1&from_ts=2026-12-01T14%3A00%3A00.000Z&to_ts=2026-12-01T15%3A00%3A00.000Z',
    );
  });

  it('asks for a heat map with its grid width and an optional group', () => {
    const query = { planId: 3, from: '2026-12-01T14:00:00.000Z', to: '2026-12-02T14:00:00.000Z', columns: 40 };
    expect(heatmapPath({ ...query, groupId: null })).toBe('/floor-plans/3/heatmap?from_ts=2026-12-01T14%3A00%3A00.000Z&to_ts=2026-12-02T14%3A00%3A00.000Z&columns=40');
    expect(heatmapPath({ ...query, groupId: 9 })).toMatch(/&columns=40&group_id=9$/);
  });
});

describe('time windows', () => {
  it('defaults to the last hours, ending at the next whole minute', () => {
    const now = new Date(2026, 11, 1, 15, 7, 30).getTime();
    expect(lastHours(1, now)).toEqual({ from: '2026-12-01T14:08', to: '2026-12-01T15:08' });
    expect(toLocalInput(new Date(2026, 0, 2, 3, 4).getTime())).toBe('2026-01-02T03:04');
  });

  it('turns the typed window into UTC instants, refusing an empty or reversed one', () => {
    const parsed = parseWindow({ from: '2026-12-01T14:00', to: '2026-12-01T15:00' });
    expect(parsed).toEqual({ from: new Date(2026, 11, 1, 14).toISOString(), to: new Date(2026, 11, 1, 15).toISOString() });
    expect(parseWindow({ from: '', to: '2026-12-01T15:00' })).toBe('invalid');
    expect(parseWindow({ from: 'nonsense', to: '2026-12-01T15:00' })).toBe('invalid');
    expect(parseWindow({ from: '2026-12-01T15:00', to: '2026-12-01T15:00' })).toBe('order');
  });
});
