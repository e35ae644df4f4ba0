import { describe, expect, it } from 'vitest';
import { MAX_GAP_MS, PlaybackClock, positionAt, ReplaySource, toReplayTracks, trailAt, type ReplayPoint } from './replay';

const P = 1; // the plan replayed
const point = (at: number, x: number, y = 0.5, planId = P, accuracyM: number | null = 1): ReplayPoint => ({ at, planId, x, y, accuracyM });

describe('positionAt', () => {
  const points = [point(0, 0.1), point(10_000, 0.3, 0.5, P, 3), point(20_000, 0.5)];

  it('interpolates between the points around the time', () => {
    expect(positionAt(points, 5_000, P)).toMatchObject({ x: 0.2, y: 0.5, accuracyM: 2, at: 0 });
    expect(positionAt(points, 10_000, P)).toMatchObject({ x: 0.3, at: 10_000 });
    expect(positionAt(points, 15_000, P)?.x).toBeCloseTo(0.4);
  });

  it('shows nothing before the first point', () => {
    expect(positionAt(points, -1, P)).toBeNull();
    expect(positionAt([], 0, P)).toBeNull();
  });

  it('holds the last point for the keep-alive gap, then hides the tag', () => {
    expect(positionAt(points, 20_000 + MAX_GAP_MS, P)).toMatchObject({ x: 0.5 });
    expect(positionAt(points, 20_001 + MAX_GAP_MS, P)).toBeNull();
  });

  it('does not glide across a silence longer than the gap', () => {
    const quiet = [point(0, 0.1), point(MAX_GAP_MS + 60_000, 0.9)];
    expect(positionAt(quiet, 30_000, P)).toMatchObject({ x: 0.1 });
    expect(positionAt(quiet, MAX_GAP_MS + 30_000, P)).toBeNull();
    expect(positionAt(quiet, MAX_GAP_MS + 60_000, P)).toMatchObject({ x: 0.9 });
  });

  it('hides a tag on another plan and does not glide between plans', () => {
    const moving = [point(0, 0.1), point(10_000, 0.9, 0.5, 2), point(20_000, 0.2)];
    expect(positionAt(moving, 5_000, P)).toMatchObject({ x: 0.1 });
    expect(positionAt(moving, 15_000, P)).toBeNull();
    expect(positionAt(moving, 15_000, 2)).toMatchObject({ x: 0.9 });
  });

  it('keeps a known accuracy when the next point has none', () => {
    expect(positionAt([point(0, 0.1, 0.5, P, 2), point(10_000, 0.3, 0.5, P, null)], 5_000, P)?.accuracyM).toBe(2);
  });
});

describe('trailAt', () => {
  it('is the path of the last seconds, ending at the interpolated position', () => {
    const points = [point(0, 0.1), point(10_000, 0.2), point(20_000, 0.3), point(30_000, 0.4)];
    const [trail] = trailAt(points, 25_000, 12_000, P);
    expect(trail.map((p) => p.x)).toEqual([expect.closeTo(0.23), 0.3, expect.closeTo(0.35)]);
  });

  it('breaks where the tag left the plan or went quiet', () => {
    const points = [point(0, 0.1), point(5_000, 0.2), point(10_000, 0.5, 0.5, 2), point(15_000, 0.6), point(20_000, 0.7), point(20_000 + MAX_GAP_MS + 1, 0.8), point(20_000 + MAX_GAP_MS + 5_000, 0.9)];
    const segments = trailAt(points, 20_000 + MAX_GAP_MS + 5_000, 600_000, P);
    expect(segments.map((s) => s.map((p) => p.x))).toEqual([[0.1, 0.2], [0.6, 0.7], [0.8, 0.9]]);
  });

  it('is empty with no trail length or a single point', () => {
    expect(trailAt([point(0, 0.1), point(1_000, 0.2)], 1_000, 0, P)).toEqual([]);
    expect(trailAt([point(0, 0.1)], 0, 60_000, P)).toEqual([]);
  });
});

describe('PlaybackClock', () => {
  it('runs at its speed while playing and stands still when paused', () => {
    const clock = new PlaybackClock(0, 3_600_000);
    expect(clock.time(0)).toBe(0);
    clock.play(1_000);
    expect(clock.time(2_000)).toBe(1_000);
    clock.setSpeed(60, 2_000);
    expect(clock.time(3_000)).toBe(61_000);
    clock.pause(3_000);
    expect(clock.time(10_000)).toBe(61_000);
    expect(clock.playing).toBe(false);
  });

  it('seeks within the window, playing or not', () => {
    const clock = new PlaybackClock(1_000, 10_000);
    clock.seek(5_000, 0);
    expect(clock.time(50)).toBe(5_000);
    clock.seek(-5, 0);
    expect(clock.time(0)).toBe(1_000);
    clock.play(100);
    clock.seek(8_000, 200);
    expect(clock.time(1_200)).toBe(9_000);
    clock.seek(99_000, 1_200);
    expect(clock.time(1_200)).toBe(10_000);
  });

  it('stops at the end of the window and plays again from the first point', () => {
    const clock = new PlaybackClock(0, 10_000, 4_000);
    expect(clock.time(0)).toBe(4_000);
    clock.setSpeed(5, 0);
    clock.play(0);
    expect(clock.time(2_000)).toBe(10_000);
    expect(clock.playing).toBe(false);
    expect(clock.ended(2_000)).toBe(true);
    clock.play(3_000);
    expect(clock.time(3_000)).toBe(4_000);
    expect(clock.time(3_200)).toBe(5_000);
  });
});

describe('ReplaySource', () => {
  const tracks = toReplayTracks([
    {
      tag_id: 3, tag_mac_address: 'AA:BB:CC:DD:EE:01', person_id: 7, person_full_name: 'Ana Souza',
      points: [
        { ts: '2026-12-01T14:00:00Z', floor_plan_id: P, x: 0.1, y: 0.2, accuracy_m: 1 },
        { ts: '2026-12-01T14:00:10Z', floor_plan_id: P, x: 0.3, y: 0.2, accuracy_m: 1 },
      ],
    },
    {
      tag_id: 4, tag_mac_address: 'AA:BB:CC:DD:EE:02', person_id: null, person_full_name: null,
      points: [{ ts: '2026-12-01T14:00:05Z', floor_plan_id: 2, x: 0.5, y: 0.5, accuracy_m: null }],
    },
  ]);
  const t0 = Date.parse('2026-12-01T14:00:00Z');

  it('names a track by its person, else its tag', () => {
    expect(tracks.map((t) => t.name)).toEqual(['Ana Souza', 'AA:BB:CC:DD:EE:02']);
  });

  it('starts at the first point on its plan and reports the markers that change', () => {
    const source = new ReplaySource(tracks, P);
    expect(source.firstAt()).toBe(t0);
    expect(new ReplaySource(tracks, 9).firstAt()).toBeNull();
    expect(source.moveTo(t0 + 5_000)).toEqual([3]);
    expect(source.markers.get(3)).toMatchObject({ x: 0.2, y: 0.2, lastSeenAt: '2026-12-01T14:00:00.000Z' });
    expect(source.moveTo(t0 + 5_000)).toEqual([]);
    expect(source.moveTo(t0 + 10_000 + MAX_GAP_MS + 1)).toEqual([3]);
    expect(source.markers.size).toBe(0);
  });

  it('gives the trails of the tags at the current time', () => {
    const source = new ReplaySource(tracks, P);
    source.setTrailSeconds(30);
    source.moveTo(t0 + 5_000);
    expect(source.trails()).toHaveLength(1);
    expect(source.trail(3, P).map((p) => p.x)).toEqual([0.1, expect.closeTo(0.2)]);
    source.setTrailSeconds(0);
    expect(source.trails()).toEqual([]);
  });
});
