// Replaying a window of position history: where each tag was at a given instant
// (interpolated between its recorded points), the trail behind it, and the playback clock.
// Plain data, no DOM: the map asks for the markers at the clock's time once per frame.
import type { Id } from '../api/types';
import type { HistoryTrack } from './history';
import type { Point } from './planGeometry';
import type { Marker, MarkerSource } from './positionStore';

/**
 * A tag with no point for longer than this is hidden: twice the history's keep-alive (a
 * still tag is recorded about once a minute), so a tag that went quiet does not stand still.
 */
export const MAX_GAP_MS = 120_000;
export const SPEEDS = [1, 5, 15, 30, 60] as const;
export const DEFAULT_TRAIL_SECONDS = 60;

export interface ReplayPoint {
  at: number;
  planId: Id;
  x: number;
  y: number;
  accuracyM: number | null;
}

export interface ReplayTrack {
  tagId: Id;
  personId: Id | null;
  /** The person's name, else the tag's MAC address. */
  name: string;
  points: ReplayPoint[];
}

export function toReplayTracks(tracks: HistoryTrack[]): ReplayTrack[] {
  return tracks.map((track) => ({
    tagId: track.tag_id,
    personId: track.person_id,
    name: track.person_full_name ?? track.tag_mac_address,
    points: track.points
      .map((p) => ({ at: Date.parse(p.ts), planId: p.floor_plan_id, x: p.x, y: p.y, accuracyM: p.accuracy_m }))
      .filter((p) => !Number.isNaN(p.at)),
  }));
}

/** The index of the last point at or before `at`, -1 when there is none (points ascend). */
function lastIndexAt(points: ReplayPoint[], at: number): number {
  let low = 0;
  let high = points.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (points[mid].at <= at) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}

const lerp = (a: number, b: number, f: number) => a + (b - a) * f;

/**
 * Where the tag was on `planId` at `at`: between two recorded points on that plan no more
 * than `maxGapMs` apart, interpolated; after the last one, held for `maxGapMs`; otherwise
 * (before the first point, on another plan, or quiet too long) null. `at` is the time of
 * the last recorded point reached.
 */
export function positionAt(points: ReplayPoint[], at: number, planId: Id, maxGapMs = MAX_GAP_MS): ReplayPoint | null {
  const i = lastIndexAt(points, at);
  if (i < 0) return null;
  const a = points[i];
  if (a.planId !== planId) return null;
  const b = points[i + 1];
  if (b && b.planId === planId && b.at - a.at <= maxGapMs) {
    const f = b.at === a.at ? 0 : (at - a.at) / (b.at - a.at);
    const accuracyM = a.accuracyM !== null && b.accuracyM !== null ? lerp(a.accuracyM, b.accuracyM, f) : a.accuracyM;
    return { at: a.at, planId, x: lerp(a.x, b.x, f), y: lerp(a.y, b.y, f), accuracyM };
  }
  return at - a.at <= maxGapMs ? a : null;
}

/**
 * The tag's path on `planId` during the `trailMs` before `at`, from where it was then to
 * where it is at `at`:
 * one polyline per stretch, broken where the tag left the plan or went quiet.
 */
export function trailAt(points: ReplayPoint[], at: number, trailMs: number, planId: Id, maxGapMs = MAX_GAP_MS): Point[][] {
  const segments: Point[][] = [];
  if (trailMs <= 0) return segments;
  // The trail starts where the tag was `trailMs` ago, between two points if need be.
  const first = lastIndexAt(points, at - trailMs);
  const start = positionAt(points, at - trailMs, planId, maxGapMs);
  let current: Point[] = start ? [{ x: start.x, y: start.y }] : [];
  let previous: ReplayPoint | null = first < 0 ? null : points[first];
  const end = lastIndexAt(points, at);
  for (let i = first + 1; i <= end; i++) {
    const p = points[i];
    const broken = p.planId !== planId || (previous !== null && p.at - previous.at > maxGapMs);
    if (broken && current.length > 0) {
      segments.push(current);
      current = [];
    }
    if (p.planId === planId) current.push({ x: p.x, y: p.y });
    previous = p;
  }
  const now = positionAt(points, at, planId, maxGapMs);
  const last = current.at(-1);
  if (now && last && (last.x !== now.x || last.y !== now.y) && previous?.planId === planId && at - previous.at <= maxGapMs) current.push({ x: now.x, y: now.y });
  if (current.length > 0) segments.push(current);
  return segments.filter((s) => s.length > 1);
}

/**
 * The replayed time: it runs at `speed` × the wall clock while playing, stops at the end of
 * the window, and can be moved (seek) at any time. Wall times are passed in (performance.now()
 * in the page, plain numbers in tests).
 */
export class PlaybackClock {
  private base: number;
  private anchor = 0;
  private rate = 1;
  private running = false;

  /** `rewindTo` is where play starts again once the end was reached (the first recorded point). */
  constructor(
    readonly from: number,
    readonly to: number,
    private readonly rewindTo = from,
  ) {
    this.base = Math.min(Math.max(rewindTo, from), to);
  }

  get playing(): boolean {
    return this.running;
  }

  get speed(): number {
    return this.rate;
  }

  /** The replayed time at wall time `now`; reaching the end pauses the clock there. */
  time(now: number): number {
    if (!this.running) return this.base;
    const at = this.base + (now - this.anchor) * this.rate;
    if (at >= this.to) {
      this.base = this.to;
      this.running = false;
      return this.to;
    }
    return at;
  }

  ended(now: number): boolean {
    return this.time(now) >= this.to;
  }

  play(now: number) {
    if (this.ended(now)) this.base = Math.min(Math.max(this.rewindTo, this.from), this.to);
    this.anchor = now;
    this.running = true;
  }

  pause(now: number) {
    this.base = this.time(now);
    this.running = false;
  }

  seek(at: number, now: number) {
    this.base = Math.min(Math.max(at, this.from), this.to);
    this.anchor = now;
  }

  setSpeed(speed: number, now: number) {
    this.base = this.time(now);
    this.anchor = now;
    this.rate = speed;
  }
}

/** The markers of a replay on one plan at one instant, in the shape the marker layer draws. */
export class ReplaySource implements MarkerSource {
  readonly markers = new Map<Id, Marker>();
  private at = Number.NaN;
  private trailMs = DEFAULT_TRAIL_SECONDS * 1000;
  private readonly byTag: Map<Id, ReplayTrack>;

  constructor(
    readonly tracks: ReplayTrack[],
    readonly planId: Id,
  ) {
    this.byTag = new Map(tracks.map((t) => [t.tagId, t]));
  }

  /** The first recorded point on this plan, where a replay starts; null when there is none. */
  firstAt(): number | null {
    let first: number | null = null;
    for (const track of this.tracks) {
      const point = track.points.find((p) => p.planId === this.planId);
      if (point && (first === null || point.at < first)) first = point.at;
    }
    return first;
  }

  setTrailSeconds(seconds: number) {
    this.trailMs = Math.max(0, seconds) * 1000;
  }

  /** Moves the markers to `at`; returns the tags whose marker moved, appeared or vanished. */
  moveTo(at: number): Id[] {
    if (at === this.at) return [];
    this.at = at;
    const changed: Id[] = [];
    for (const track of this.tracks) {
      const place = positionAt(track.points, at, this.planId);
      const before = this.markers.get(track.tagId);
      if (!place) {
        if (this.markers.delete(track.tagId)) changed.push(track.tagId);
        continue;
      }
      if (before && before.x === place.x && before.y === place.y && before.accuracyM === place.accuracyM) continue;
      this.markers.set(track.tagId, {
        tagId: track.tagId,
        planId: this.planId,
        deviceId: 0,
        x: place.x,
        y: place.y,
        accuracyM: place.accuracyM,
        lastSeenAt: new Date(place.at).toISOString(),
      });
      changed.push(track.tagId);
    }
    return changed;
  }

  /** Every tag's trail at the current time. */
  trails(): Point[][] {
    return this.tracks.flatMap((track) => trailAt(track.points, this.at, this.trailMs, this.planId));
  }

  /** The tag's latest trail stretch (the marker layer draws it for the selected tag). */
  trail(tagId: Id, planId: Id): Point[] {
    const track = this.byTag.get(tagId);
    if (!track || planId !== this.planId) return [];
    return trailAt(track.points, this.at, this.trailMs, planId).at(-1) ?? [];
  }
}
