import { describe, expect, it } from 'vitest';
import {
  addPoint,
  buildRequest,
  clockOffsetMs,
  countReadings,
  deletePoint,
  describeProblem,
  draftKey,
  elapsedSeconds,
  findTag,
  fromMetres,
  movePoint,
  parseDraft,
  parseTag,
  placePoint,
  pointState,
  problems,
  recordingPoint,
  sameFit,
  serializeDraft,
  shapeResult,
  startPoint,
  stopPoint,
  toMetres,
  type CalibrationRead,
  type Reading,
  type StandingPoint,
} from './calibration';
import type { Tag } from '../api/types';

const T0 = '2026-12-02T10:00:00.000Z';
const T1 = '2026-12-02T10:01:00.000Z';
const plan = { width_m: 20, height_m: 10 };

function recorded(n: number): StandingPoint[] {
  return Array.from({ length: n }, (_, i) => ({ id: i + 1, x: 0.1 * (i + 1), y: 0.5, fromTs: T0, toTs: T1 }));
}

describe('standing points', () => {
  it('adds a point per click, and a second click moves a point not yet started', () => {
    let points = placePoint([], { x: 0.2, y: 0.3 });
    points = placePoint(points, { x: 0.25, y: 0.35 });
    expect(points).toEqual([{ id: 1, x: 0.25, y: 0.35, fromTs: null, toTs: null }]);
    points = startPoint(points, 1, T0);
    points = stopPoint(points, 1, T1);
    points = placePoint(points, { x: 1.5, y: -1 });
    expect(points.map((p) => [p.id, p.x, p.y])).toEqual([
      [1, 0.25, 0.35],
      [2, 1, 0],
    ]);
  });

  it('ignores clicks on the plan while a point is recording', () => {
    const points = startPoint(placePoint([], { x: 0.2, y: 0.3 }), 1, T0);
    expect(placePoint(points, { x: 0.9, y: 0.9 })).toBe(points);
  });

  it('records one point at a time: start, stop, start again reopens the window', () => {
    let points: StandingPoint[] = [
      { id: 1, x: 0.1, y: 0.1, fromTs: null, toTs: null },
      { id: 2, x: 0.9, y: 0.9, fromTs: null, toTs: null },
    ];
    points = startPoint(points, 1, T0);
    expect(recordingPoint(points)?.id).toBe(1);
    expect(startPoint(points, 2, T0)).toBe(points);
    points = stopPoint(points, 1, T1);
    expect(pointState(points[0])).toBe('recorded');
    expect(elapsedSeconds(points[0], Date.parse(T1) + 99_000)).toBe(60);
    points = startPoint(points, 1, T1);
    expect(points[0]).toMatchObject({ fromTs: T1, toTs: null });
    expect(elapsedSeconds(points[0], Date.parse(T1) + 12_400)).toBe(12);
    expect(elapsedSeconds(points[1], Date.parse(T1))).toBeNull();
  });

  it('deletes and moves a point, keeping the others and the window', () => {
    const points = recorded(3);
    expect(deletePoint(points, 2).map((p) => p.id)).toEqual([1, 3]);
    expect(movePoint(points, 3, { x: 0.5, y: 2 })[2]).toEqual({ id: 3, x: 0.5, y: 1, fromTs: T0, toTs: T1 });
    expect(placePoint(deletePoint(points, 2), { x: 0, y: 0 }).map((p) => p.id)).toEqual([1, 3, 4]);
  });

  it('stops adding at the API’s 50 points', () => {
    expect(placePoint(recorded(50), { x: 0.5, y: 0.5 })).toHaveLength(50);
    expect(addPoint(recorded(50), { x: 0.5, y: 0.5 })).toHaveLength(50);
  });

  it('adds a point from the keyboard even after one not yet started, not while recording', () => {
    const placed = placePoint([], { x: 0.2, y: 0.3 });
    expect(addPoint(placed, { x: 0.5, y: 0.5 }).map((p) => [p.id, p.x])).toEqual([
      [1, 0.2],
      [2, 0.5],
    ]);
    const busy = startPoint(placed, 1, T0);
    expect(addPoint(busy, { x: 0.5, y: 0.5 })).toBe(busy);
  });
});

describe('the tag', () => {
  it('reads a MAC in any common spelling, or an id', () => {
    expect(parseTag(' ac:23:3f:10:00:01 ')).toEqual({ tag_mac_address: 'AC233F100001' });
    expect(parseTag('AC-23-3F-10-00-01')).toEqual({ tag_mac_address: 'AC233F100001' });
    expect(parseTag('12')).toEqual({ tag_id: 12 });
    expect(parseTag('0')).toBeNull();
    expect(parseTag('tag 12')).toBeNull();
    expect(parseTag('')).toBeNull();
  });

  it('finds the registered tag by id or by MAC', () => {
    const tags = [{ id: 7, mac_address: 'AC:23:3F:10:00:01' } as Tag];
    expect(findTag(tags, parseTag('ac233f100001'))?.id).toBe(7);
    expect(findTag(tags, parseTag('7'))?.id).toBe(7);
    expect(findTag(tags, parseTag('8'))).toBeUndefined();
  });
});

describe('problems before a fit', () => {
  it('names what the appliance would refuse', () => {
    const points: StandingPoint[] = [
      { id: 1, x: 0.1, y: 0.1, fromTs: null, toTs: null },
      { id: 2, x: 0.2, y: 0.2, fromTs: T0, toTs: null },
    ];
    expect(problems({ width_m: null, height_m: 10 }, 0, 'nope', points)).toEqual([
      { key: 'noPlanSize' },
      { key: 'noGateways' },
      { key: 'noTag' },
      { key: 'tooFewPoints' },
      { key: 'notRecorded', point: 1 },
      { key: 'stillRecording', point: 2 },
    ]);
  });

  it('refuses a window longer than an hour, and nothing else for a complete set', () => {
    const points = recorded(3);
    expect(problems(plan, 4, '12', points)).toEqual([]);
    points[1] = { ...points[1], toTs: '2026-12-02T11:00:01.000Z' };
    expect(problems(plan, 4, '12', points)).toEqual([{ key: 'windowTooLong', point: 2 }]);
  });
});

describe('the request', () => {
  it('carries the plan, the tag one way, the points and apply', () => {
    const body = buildRequest(3, { tag_mac_address: 'AC233F100001' }, recorded(3), false);
    expect(body).toEqual({
      floor_plan_id: 3,
      tag_mac_address: 'AC233F100001',
      apply: false,
      points: [0.1, 0.2, 0.30000000000000004].map((x) => ({ x, y: 0.5, from_ts: T0, to_ts: T1 })),
    });
    expect(buildRequest(3, { tag_id: 9 }, [], true)).toEqual({ floor_plan_id: 3, tag_id: 9, points: [], apply: true });
  });

  it('knows when the points changed since the fit', () => {
    const fitted = buildRequest(3, { tag_id: 9 }, recorded(3), false);
    expect(sameFit(fitted, { ...fitted, apply: true })).toBe(true);
    expect(sameFit(fitted, buildRequest(3, { tag_id: 9 }, movePoint(recorded(3), 1, { x: 0.5, y: 0.5 }), false))).toBe(false);
  });
});

describe('the answer', () => {
  const read: CalibrationRead = {
    floor_plan_id: 3,
    tag_id: 9,
    applied: false,
    gateways: [
      { device_id: 1, name: 'GW-A', samples: 120, rssi_at_1m_before: -59, path_loss_exponent_before: 2.5, rssi_at_1m: -62.4, path_loss_exponent: 2.21, residual_db: 2.3, reason: null },
      { device_id: 2, name: 'GW-B', samples: 4, rssi_at_1m_before: -59, path_loss_exponent_before: 2.5, rssi_at_1m: null, path_loss_exponent: null, residual_db: null, reason: '4 readings in the windows; at least 10 are needed' },
    ],
    points: [
      { x: 0.1, y: 0.5, samples: 60, error_before_m: 2.4, error_after_m: 0.8 },
      { x: 0.9, y: 0.5, samples: 0, error_before_m: null, error_after_m: null },
    ],
    mean_error_before_m: 2.4,
    mean_error_after_m: 0.8,
  };

  it('shows per gateway the change and why one was not fitted', () => {
    const view = shapeResult(read);
    expect(view.gateways.map((g) => [g.name, g.fitted, g.rssiChange, g.exponentChange])).toEqual([
      ['GW-A', true, -3.4, -0.29],
      ['GW-B', false, null, null],
    ]);
    expect(view.gateways[1].reason).toContain('at least 10');
    expect(view.fittedGateways).toBe(1);
    expect(view.applicable).toBe(true);
  });

  it('shows per point and in total the error before and after', () => {
    const view = shapeResult(read);
    expect(view.points.map((p) => [p.number, p.change])).toEqual([
      [1, -1.6],
      [2, null],
    ]);
    expect([view.meanBefore, view.meanAfter, view.meanChange, view.improvementPercent]).toEqual([2.4, 0.8, -1.6, 67]);
  });

  it('offers no apply once applied or with nothing fitted', () => {
    expect(shapeResult({ ...read, applied: true }).applicable).toBe(false);
    expect(shapeResult({ ...read, gateways: [read.gateways[1]] }).applicable).toBe(false);
    expect(shapeResult({ ...read, mean_error_before_m: null, mean_error_after_m: null }).improvementPercent).toBeNull();
  });

  it('numbers the 422 problems by point as the page does', () => {
    expect(describeProblem({ loc: ['body', 'points', '1', 'to_ts'], msg: 'the window has not ended yet' })).toEqual({ point: 2, field: 'to_ts', msg: 'the window has not ended yet' });
    expect(describeProblem({ loc: ['body', 'points'], msg: 'gateway 4 (GW-A): 3 readings' })).toEqual({ point: null, field: 'points', msg: 'gateway 4 (GW-A): 3 readings' });
    expect(describeProblem({ loc: ['body', 'tag_id'], msg: 'give tag_id' }).field).toBe('tag_id');
  });
});

describe('readings while standing', () => {
  const reading = (id: number, device: number, at: string, rssi: number | null = -70): Reading => ({ id, device_id: device, tag_id: 9, rssi, created_at: at });
  const gateways = new Set([1, 2]);

  it('counts the plan’s gateways’ readings inside the window', () => {
    const readings = [
      reading(6, 1, '2026-12-02T10:01:30Z'), // after the window
      reading(5, 3, '2026-12-02T10:00:40Z'), // a gateway of another plan
      reading(4, 2, '2026-12-02T10:00:30Z', null), // no RSSI: not a sample
      reading(3, 2, '2026-12-02T10:00:20Z'),
      reading(2, 1, '2026-12-02T10:00:10Z'),
      reading(1, 1, '2026-12-02T09:59:59Z'), // before it
    ];
    expect(countReadings(readings, T0, T1, gateways, 1000)).toEqual({ total: 2, enough: 0, heard: 2, complete: true });
    expect(countReadings(readings, T0, null, gateways, 1000).total).toBe(3);
  });

  it('counts a gateway with enough samples, and says when the page of readings was cut short', () => {
    const readings = Array.from({ length: 10 }, (_, i) => reading(i, 1, new Date(Date.parse(T0) + (10 - i) * 1000).toISOString()));
    expect(countReadings(readings, T0, null, gateways, 10)).toEqual({ total: 10, enough: 1, heard: 1, complete: false });
    expect(countReadings(readings, T0, null, gateways, 11).complete).toBe(true);
  });
});

describe('the clocks', () => {
  it('ignores a difference within the Date header’s second', () => {
    const sent = Date.parse('2026-12-02T10:00:00.200Z');
    expect(clockOffsetMs('Wed, 02 Dec 2026 10:00:00 GMT', sent, sent + 100)).toBe(0);
    expect(clockOffsetMs(null, sent, sent)).toBe(0);
    expect(clockOffsetMs('garbage', sent, sent)).toBe(0);
  });

  it('measures an appliance whose clock is ahead or behind', () => {
    const sent = Date.parse('2026-12-02T10:00:00.000Z');
    expect(clockOffsetMs('Wed, 02 Dec 2026 10:02:00 GMT', sent, sent + 200)).toBe(120_000);
    expect(clockOffsetMs('Wed, 02 Dec 2026 09:59:50 GMT', sent, sent + 200)).toBe(-10_000);
  });
});

describe('metres', () => {
  it('converts both ways, clamped to the plan', () => {
    expect(toMetres({ x: 0.25, y: 0.5 }, plan)).toEqual({ x: 5, y: 5 });
    expect(fromMetres({ x: 5, y: 12 }, plan)).toEqual({ x: 0.25, y: 1 });
  });
});

describe('the stored draft', () => {
  it('round-trips and drops what does not parse', () => {
    const draft = { tag: 'AC233F100001', points: recorded(2) };
    expect(parseDraft(serializeDraft(draft))).toEqual(draft);
    expect(parseDraft('{"tag": 5, "points": [{"x": 2, "y": 0}, {"x": 0.5, "y": 0.5, "fromTs": "never", "toTs": "2026-12-02T10:00:00Z"}]}')).toEqual({
      tag: '',
      points: [{ id: 1, x: 0.5, y: 0.5, fromTs: null, toTs: null }],
    });
    expect(parseDraft('not json')).toEqual({ tag: '', points: [] });
    expect(parseDraft(null)).toEqual({ tag: '', points: [] });
    expect(draftKey(3)).toBe('sv.calibration.3');
  });
});
