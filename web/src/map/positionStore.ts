// Where every tag is, and where it has been since the page loaded, fed by the initial
// GET /positions/current and then by POSITION_CHANGED events. Plain data, no React: the
// map reads the changed tags once per animation frame (takeChanges), so 500 moving tags
// cost one DOM update per tag per frame at most, and no React render at all.
import type { CurrentLocation, Id, TagPosition } from '../api/types';
import type { Point } from './planGeometry';

export const TRAIL_WINDOW_MS = 60 * 60 * 1000;
/** At one position every 5 s for an hour a tag makes 720 points; leave room for bursts. */
export const MAX_TRAIL_POINTS = 2000;

export interface Marker {
  tagId: Id;
  planId: Id;
  deviceId: Id;
  x: number;
  y: number;
  accuracyM: number | null;
  lastSeenAt: string;
}

export interface TrailPoint {
  planId: Id;
  x: number;
  y: number;
  at: number;
}

/** What a marker layer draws: the markers by tag, and the selected tag's trail. */
export interface MarkerSource {
  readonly markers: ReadonlyMap<Id, Marker>;
  trail(tagId: Id, planId: Id): Point[];
}

/** Places gateways are drawn at, to show a tag heard by an unplaced set at its gateway. */
export type GatewayLookup = (deviceId: Id) => { planId: Id; x: number; y: number } | null;

export class PositionStore implements MarkerSource {
  readonly markers = new Map<Id, Marker>();
  private readonly trails = new Map<Id, TrailPoint[]>();
  private changed = new Set<Id>();

  constructor(private readonly gatewayAt: GatewayLookup = () => null) {}

  /** The initial snapshot (positions the server already knew). */
  seed(rows: CurrentLocation[], now = Date.now()) {
    for (const row of rows) {
      this.apply(
        {
          tag_id: row.tag_id,
          device_id: row.device_id,
          last_seen_at: row.last_seen_at,
          rssi: null,
          floor_plan_id: row.floor_plan_id,
          x: row.x,
          y: row.y,
          x_m: null,
          y_m: null,
          accuracy_m: row.accuracy_m,
        },
        now,
      );
    }
  }

  /** One POSITION_CHANGED payload. A tag no longer on any plan loses its marker. */
  apply(position: TagPosition, now = Date.now()) {
    const place = this.placeOf(position);
    if (!place) {
      if (this.markers.delete(position.tag_id)) this.changed.add(position.tag_id);
      return;
    }
    const marker: Marker = {
      tagId: position.tag_id,
      planId: place.planId,
      deviceId: position.device_id,
      x: place.x,
      y: place.y,
      accuracyM: position.accuracy_m,
      lastSeenAt: position.last_seen_at,
    };
    this.markers.set(marker.tagId, marker);
    this.changed.add(marker.tagId);
    this.record(marker, now);
  }

  /** Tags whose marker changed or disappeared since the last call. */
  takeChanges(): Id[] {
    const changed = [...this.changed];
    this.changed = new Set();
    return changed;
  }

  /** Marks every tag changed, e.g. after names were reloaded. */
  touchAll() {
    for (const id of this.markers.keys()) this.changed.add(id);
  }

  /** The tag's positions on `planId` within the last hour, oldest first. */
  trail(tagId: Id, planId: Id, now = Date.now()): TrailPoint[] {
    const points = this.trails.get(tagId) ?? [];
    return points.filter((p) => p.planId === planId && now - p.at <= TRAIL_WINDOW_MS);
  }

  private placeOf(position: TagPosition): { planId: Id; x: number; y: number } | null {
    if (position.floor_plan_id !== null && position.x !== null && position.y !== null) {
      return { planId: position.floor_plan_id, x: position.x, y: position.y };
    }
    return this.gatewayAt(position.device_id);
  }

  private record(marker: Marker, now: number) {
    const points = this.trails.get(marker.tagId) ?? [];
    const last = points[points.length - 1];
    if (!last || last.x !== marker.x || last.y !== marker.y || last.planId !== marker.planId) {
      points.push({ planId: marker.planId, x: marker.x, y: marker.y, at: now });
    }
    // Points arrive in time order, so the expired ones are at the front.
    let expired = 0;
    while (expired < points.length && now - points[expired].at > TRAIL_WINDOW_MS) expired++;
    const overflow = Math.max(0, points.length - expired - MAX_TRAIL_POINTS);
    if (expired + overflow > 0) points.splice(0, expired + overflow);
    this.trails.set(marker.tagId, points);
  }
}
