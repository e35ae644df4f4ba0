// On-site calibration (POST /positioning/calibrations): the standing points an operator
// records on a plan, the request they make and the answer shaped for the page. Pure: the
// page (pages/CalibrationPage.tsx) owns the clock, the storage and the requests.
import type { FieldProblem } from '../api/errors';
import type { FloorPlan, Id, Tag } from '../api/types';
import { clampFraction, type Point } from '../map/planGeometry';

/** The appliance's bounds (src/api/positioning.rs). */
export const MIN_POINTS = 3;
export const MAX_POINTS = 50;
export const MAX_WINDOW_SECONDS = 3600;
/** Readings a gateway needs in the windows for a fit. */
export const MIN_SAMPLES = 10;
/**
 * Below this the browser's clock is taken as the appliance's: the `Date` header it is
 * compared with has whole seconds only.
 */
export const CLOCK_TOLERANCE_MS = 2000;

/** Where the tag stood (fractions of the plan image, like devices' pos_x/pos_y) and when. */
export interface StandingPoint {
  /** The page's key for the point; the operator sees its place in the list (1, 2, …). */
  id: number;
  x: number;
  y: number;
  fromTs: string | null;
  toTs: string | null;
}

export type PointState = 'placed' | 'recording' | 'recorded';

export function pointState(point: StandingPoint): PointState {
  if (!point.fromTs) return 'placed';
  return point.toTs ? 'recorded' : 'recording';
}

/** The point being recorded now (one at a time: the operator stands at one place). */
export function recordingPoint(points: StandingPoint[]): StandingPoint | undefined {
  return points.find((p) => pointState(p) === 'recording');
}

function nextId(points: StandingPoint[]): number {
  return points.reduce((max, p) => Math.max(max, p.id), 0) + 1;
}

/**
 * A click on the plan: moves the last point while it is only placed (a misplaced click is
 * corrected by clicking again), else adds a point. Nothing while a point is recording, so
 * that a tap on the tablet in hand does not start another.
 */
export function placePoint(points: StandingPoint[], at: Point): StandingPoint[] {
  if (recordingPoint(points)) return points;
  const spot = { x: clampFraction(at.x), y: clampFraction(at.y) };
  const last = points[points.length - 1];
  if (last && pointState(last) === 'placed') return [...points.slice(0, -1), { ...last, ...spot }];
  return addPoint(points, spot);
}

/** "Add a point" (for the keyboard): a new point at `at`, whatever the last one's state. */
export function addPoint(points: StandingPoint[], at: Point): StandingPoint[] {
  if (recordingPoint(points) || points.length >= MAX_POINTS) return points;
  return [...points, { id: nextId(points), x: clampFraction(at.x), y: clampFraction(at.y), fromTs: null, toTs: null }];
}

/** Moves a point (keyboard, metres typed in); its window stays: the place was mistyped, not the time. */
export function movePoint(points: StandingPoint[], id: number, at: Point): StandingPoint[] {
  return points.map((p) => (p.id === id ? { ...p, x: clampFraction(at.x), y: clampFraction(at.y) } : p));
}

/** "Start": the window opens now (again, for a point recorded before). Refused while another records. */
export function startPoint(points: StandingPoint[], id: number, nowIso: string): StandingPoint[] {
  const busy = recordingPoint(points);
  if (busy && busy.id !== id) return points;
  return points.map((p) => (p.id === id ? { ...p, fromTs: nowIso, toTs: null } : p));
}

/** "Stop": the window closes now. */
export function stopPoint(points: StandingPoint[], id: number, nowIso: string): StandingPoint[] {
  return points.map((p) => (p.id === id && pointState(p) === 'recording' ? { ...p, toTs: nowIso } : p));
}

export function deletePoint(points: StandingPoint[], id: number): StandingPoint[] {
  return points.filter((p) => p.id !== id);
}

/** Seconds the point has been (or was) recorded; null before "Start". */
export function elapsedSeconds(point: StandingPoint, nowMs: number): number | null {
  if (!point.fromTs) return null;
  const end = point.toTs ? Date.parse(point.toTs) : nowMs;
  return Math.max(0, Math.floor((end - Date.parse(point.fromTs)) / 1000));
}

// The tag carried.

export type TagRef = { tag_id: Id } | { tag_mac_address: string };

/** A MAC address (12 hex digits, any of `:`, `-`, `.` between) or a tag id. */
export function parseTag(input: string): TagRef | null {
  const text = input.trim();
  const hex = text.replace(/[:\-.]/g, '');
  if (/^[0-9a-f]{12}$/i.test(hex)) return { tag_mac_address: hex.toUpperCase() };
  if (/^\d{1,15}$/.test(text) && Number(text) > 0) return { tag_id: Number(text) };
  return null;
}

const bareMac = (mac: string) => mac.replace(/[:\-.]/g, '').toUpperCase();

/** The registered tag a reference names, when it is among `tags`. */
export function findTag(tags: Tag[], ref: TagRef | null): Tag | undefined {
  if (!ref) return undefined;
  if ('tag_id' in ref) return tags.find((t) => t.id === ref.tag_id);
  return tags.find((t) => bareMac(t.mac_address) === ref.tag_mac_address);
}

// Before "Fit": what the appliance would refuse, said on the page first.

export type ProblemKey = 'noPlanSize' | 'noGateways' | 'noTag' | 'tooFewPoints' | 'tooManyPoints' | 'notRecorded' | 'stillRecording' | 'windowTooLong';

export interface Problem {
  key: ProblemKey;
  /** The point it is about, numbered as the page lists them (from 1). */
  point?: number;
}

export function hasSize(plan: Pick<FloorPlan, 'width_m' | 'height_m'>): boolean {
  return !!plan.width_m && !!plan.height_m && plan.width_m > 0 && plan.height_m > 0;
}

/** `gateways`: how many gateways are placed on the plan (the fit is theirs). */
export function problems(plan: Pick<FloorPlan, 'width_m' | 'height_m'>, gateways: number, tagInput: string, points: StandingPoint[]): Problem[] {
  const found: Problem[] = [];
  if (!hasSize(plan)) found.push({ key: 'noPlanSize' });
  if (gateways === 0) found.push({ key: 'noGateways' });
  if (!parseTag(tagInput)) found.push({ key: 'noTag' });
  if (points.length < MIN_POINTS) found.push({ key: 'tooFewPoints' });
  if (points.length > MAX_POINTS) found.push({ key: 'tooManyPoints' });
  points.forEach((p, i) => {
    const state = pointState(p);
    if (state === 'placed') found.push({ key: 'notRecorded', point: i + 1 });
    else if (state === 'recording') found.push({ key: 'stillRecording', point: i + 1 });
    else if (Date.parse(p.toTs!) - Date.parse(p.fromTs!) > MAX_WINDOW_SECONDS * 1000) found.push({ key: 'windowTooLong', point: i + 1 });
  });
  return found;
}

// The request and its answer (src/api/positioning.rs).

export interface CalibrationBody {
  floor_plan_id: Id;
  tag_id?: Id;
  tag_mac_address?: string;
  points: { x: number; y: number; from_ts: string; to_ts: string }[];
  apply: boolean;
}

/** The body for recorded points (`problems` empty). */
export function buildRequest(planId: Id, tag: TagRef, points: StandingPoint[], apply: boolean): CalibrationBody {
  return {
    floor_plan_id: planId,
    ...tag,
    points: points.map((p) => ({ x: p.x, y: p.y, from_ts: p.fromTs!, to_ts: p.toTs! })),
    apply,
  };
}

/** Two requests fit the same thing when they differ at most in `apply`. */
export function sameFit(a: CalibrationBody, b: CalibrationBody): boolean {
  return JSON.stringify({ ...a, apply: false }) === JSON.stringify({ ...b, apply: false });
}

export interface GatewayCalibration {
  device_id: Id;
  name: string;
  samples: number;
  rssi_at_1m_before: number;
  path_loss_exponent_before: number;
  rssi_at_1m: number | null;
  path_loss_exponent: number | null;
  residual_db: number | null;
  reason: string | null;
}

export interface PointCalibration {
  x: number;
  y: number;
  samples: number;
  error_before_m: number | null;
  error_after_m: number | null;
}

export interface CalibrationRead {
  floor_plan_id: Id;
  tag_id: Id;
  applied: boolean;
  gateways: GatewayCalibration[];
  points: PointCalibration[];
  mean_error_before_m: number | null;
  mean_error_after_m: number | null;
}

export interface GatewayRow extends GatewayCalibration {
  fitted: boolean;
  rssiChange: number | null;
  exponentChange: number | null;
}

export interface PointRow extends PointCalibration {
  /** As the page numbers the points (from 1). */
  number: number;
  /** Metres gained (negative) or lost by the fit; null when either error is unknown. */
  change: number | null;
}

export interface CalibrationView {
  gateways: GatewayRow[];
  points: PointRow[];
  meanBefore: number | null;
  meanAfter: number | null;
  meanChange: number | null;
  /** How much the mean error shrank, in percent (negative: it grew). */
  improvementPercent: number | null;
  fittedGateways: number;
  applied: boolean;
  /** Whether "Apply" would change anything: some gateway was fitted and nothing was saved yet. */
  applicable: boolean;
}

const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;
const difference = (after: number | null, before: number | null, decimals: number) => (after === null || before === null ? null : round(after - before, decimals));

export function shapeResult(read: CalibrationRead): CalibrationView {
  const gateways = read.gateways.map((g) => ({
    ...g,
    fitted: g.rssi_at_1m !== null && g.path_loss_exponent !== null,
    rssiChange: difference(g.rssi_at_1m, g.rssi_at_1m_before, 1),
    exponentChange: difference(g.path_loss_exponent, g.path_loss_exponent_before, 2),
  }));
  const points = read.points.map((p, i) => ({ ...p, number: i + 1, change: difference(p.error_after_m, p.error_before_m, 2) }));
  const fittedGateways = gateways.filter((g) => g.fitted).length;
  const before = read.mean_error_before_m;
  const after = read.mean_error_after_m;
  return {
    gateways,
    points,
    meanBefore: before,
    meanAfter: after,
    meanChange: difference(after, before, 2),
    improvementPercent: before && after !== null ? Math.round(((before - after) / before) * 100) : null,
    fittedGateways,
    applied: read.applied,
    applicable: fittedGateways > 0 && !read.applied,
  };
}

/** One 422 problem as the page shows it: the point numbered from 1, the field, the message. */
export function describeProblem(problem: FieldProblem): { point: number | null; field: string; msg: string } {
  const loc = problem.loc.map(String);
  const at = loc.indexOf('points');
  const index = at >= 0 && at + 1 < loc.length ? Number(loc[at + 1]) : NaN;
  const point = Number.isInteger(index) ? index + 1 : null;
  const field = loc.length > 1 ? loc[loc.length - 1] : '';
  return { point, field: point !== null && field === String(index) ? '' : field, msg: problem.msg };
}

// While standing: the readings of the tag that arrived in the window.

export interface Reading {
  id: Id;
  device_id: Id;
  tag_id: Id;
  rssi: number | null;
  created_at: string;
}

export interface ReadingCount {
  total: number;
  /** Gateways of the plan that heard the tag at least MIN_SAMPLES times. */
  enough: number;
  /** Gateways of the plan that heard it at all. */
  heard: number;
  /** False when the page of readings ended inside the window: there were more. */
  complete: boolean;
}

/**
 * Counts `readings` (newest first, the API's order; at most `pageSize` of them) from the
 * plan's gateways within [from, to]; `to` null while the window is open.
 */
export function countReadings(readings: Reading[], from: string, to: string | null, gatewayIds: Set<Id>, pageSize: number): ReadingCount {
  const start = Date.parse(from);
  const end = to ? Date.parse(to) : Infinity;
  const perGateway = new Map<Id, number>();
  let total = 0;
  for (const r of readings) {
    const at = Date.parse(r.created_at);
    if (at < start || at > end || r.rssi === null || !gatewayIds.has(r.device_id)) continue;
    total += 1;
    perGateway.set(r.device_id, (perGateway.get(r.device_id) ?? 0) + 1);
  }
  const oldest = readings[readings.length - 1];
  const complete = readings.length < pageSize || !oldest || Date.parse(oldest.created_at) < start;
  return { total, enough: [...perGateway.values()].filter((n) => n >= MIN_SAMPLES).length, heard: perGateway.size, complete };
}

/**
 * How far the appliance's clock is ahead of this browser's (ms), from its `Date` header and
 * when the request left and its answer came; 0 within CLOCK_TOLERANCE_MS or without one.
 * The windows are compared with the times the appliance stored the readings at.
 */
export function clockOffsetMs(dateHeader: string | null, sentAtMs: number, receivedAtMs: number): number {
  const server = dateHeader ? Date.parse(dateHeader) : NaN;
  if (Number.isNaN(server)) return 0;
  // The header is truncated to the second: its middle is the best guess.
  const offset = server + 500 - (sentAtMs + receivedAtMs) / 2;
  return Math.abs(offset) < CLOCK_TOLERANCE_MS ? 0 : Math.round(offset / 1000) * 1000;
}

// Plan coordinates in metres (the operator may have measured the points with a tape).

export function toMetres(point: Point, plan: Pick<FloorPlan, 'width_m' | 'height_m'>): Point {
  return { x: round(point.x * (plan.width_m ?? 0), 2), y: round(point.y * (plan.height_m ?? 0), 2) };
}

export function fromMetres(metres: Point, plan: Pick<FloorPlan, 'width_m' | 'height_m'>): Point {
  return { x: clampFraction(metres.x / (plan.width_m || 1)), y: clampFraction(metres.y / (plan.height_m || 1)) };
}

// The page's work survives a reload (the operator walks the site with a tablet).

export interface Draft {
  tag: string;
  points: StandingPoint[];
}

export const EMPTY_DRAFT: Draft = { tag: '', points: [] };

export function draftKey(planId: Id): string {
  return `sv.calibration.${planId}`;
}

const isTime = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value));
const isFraction = (value: unknown): value is number => typeof value === 'number' && value >= 0 && value <= 1;

/** A stored draft; what does not parse is dropped. */
export function parseDraft(text: string | null): Draft {
  let stored: unknown;
  try {
    stored = text ? JSON.parse(text) : null;
  } catch {
    return EMPTY_DRAFT;
  }
  if (!stored || typeof stored !== 'object') return EMPTY_DRAFT;
  const { tag, points } = stored as { tag?: unknown; points?: unknown };
  const kept: StandingPoint[] = [];
  for (const p of Array.isArray(points) ? points.slice(0, MAX_POINTS) : []) {
    const { x, y, fromTs, toTs } = (p ?? {}) as Record<string, unknown>;
    if (!isFraction(x) || !isFraction(y)) continue;
    const from = isTime(fromTs) ? fromTs : null;
    const to = from && isTime(toTs) ? toTs : null;
    kept.push({ id: kept.length + 1, x, y, fromTs: from, toTs: to });
  }
  return { tag: typeof tag === 'string' ? tag : '', points: kept };
}

export function serializeDraft(draft: Draft): string {
  return JSON.stringify(draft);
}
