import { describe, expect, it } from 'vitest';
import type { TagPosition } from '../api/types';
import { MAX_TRAIL_POINTS, PositionStore, TRAIL_WINDOW_MS } from './positionStore';

function position(tagId: number, x: number | null, y: number | null, extra: Partial<TagPosition> = {}): TagPosition {
  return { tag_id: tagId, device_id: 1, last_seen_at: '2026-01-01T00:00:00Z', rssi: -60, floor_plan_id: 7, x, y, x_m: null, y_m: null, accuracy_m: 1.5, ...extra };
}

describe('PositionStore', () => {
  it('seeds from the current positions and reports each tag once as changed', () => {
    const store = new PositionStore();
    store.seed([
      { person_id: 1, person_full_name: 'Ana', tag_id: 10, tag_mac_address: 'AA', device_id: 1, floor_plan_id: 7, last_seen_at: '2026-01-01T00:00:00Z', x: 0.2, y: 0.3, accuracy_m: 2 },
    ]);
    expect(store.markers.get(10)).toMatchObject({ planId: 7, x: 0.2, y: 0.3, accuracyM: 2 });
    expect(store.takeChanges()).toEqual([10]);
    expect(store.takeChanges()).toEqual([]);
  });

  it('moves a marker on POSITION_CHANGED and batches changes until taken', () => {
    const store = new PositionStore();
    store.apply(position(10, 0.1, 0.1));
    store.apply(position(10, 0.5, 0.5));
    store.apply(position(11, 0.9, 0.9));
    expect(store.takeChanges().sort()).toEqual([10, 11]);
    expect(store.markers.get(10)).toMatchObject({ x: 0.5, y: 0.5 });
  });

  it('falls back to the gateway position when the tag has no estimate', () => {
    const store = new PositionStore((deviceId) => (deviceId === 3 ? { planId: 8, x: 0.4, y: 0.6 } : null));
    store.apply(position(10, null, null, { floor_plan_id: null, device_id: 3 }));
    expect(store.markers.get(10)).toMatchObject({ planId: 8, x: 0.4, y: 0.6 });
  });

  it('drops the marker of a tag that is on no plan any more', () => {
    const store = new PositionStore();
    store.apply(position(10, 0.1, 0.1));
    store.takeChanges();
    store.apply(position(10, null, null, { floor_plan_id: null }));
    expect(store.markers.has(10)).toBe(false);
    expect(store.takeChanges()).toEqual([10]);
  });

  it('keeps the trail of the last hour, per plan, without repeated points', () => {
    const store = new PositionStore();
    const start = 1_000_000;
    store.apply(position(10, 0.1, 0.1), start);
    store.apply(position(10, 0.1, 0.1), start + 1000);
    store.apply(position(10, 0.2, 0.1, { floor_plan_id: 9 }), start + 2000);
    store.apply(position(10, 0.3, 0.1), start + 3000);
    expect(store.trail(10, 7, start + 3000).map((p) => p.x)).toEqual([0.1, 0.3]);
    expect(store.trail(10, 9, start + 3000).map((p) => p.x)).toEqual([0.2]);
    // An hour later the first points have expired.
    expect(store.trail(10, 7, start + TRAIL_WINDOW_MS + 2500).map((p) => p.x)).toEqual([0.3]);
    store.apply(position(10, 0.4, 0.1), start + TRAIL_WINDOW_MS + 2500);
    expect(store.trail(10, 7, start + TRAIL_WINDOW_MS + 2500).map((p) => p.x)).toEqual([0.3, 0.4]);
  });

  it('bounds a trail’s length', () => {
    const store = new PositionStore();
    for (let i = 0; i < MAX_TRAIL_POINTS + 50; i++) store.apply(position(10, (i % 100) / 100, 0.5), i);
    const trail = store.trail(10, 7, MAX_TRAIL_POINTS + 50);
    expect(trail).toHaveLength(MAX_TRAIL_POINTS);
    expect(trail[trail.length - 1].at).toBe(MAX_TRAIL_POINTS + 49);
  });
});
