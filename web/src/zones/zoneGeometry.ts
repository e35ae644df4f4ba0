// Zone polygons in plan fractions: the editing steps (pure, so they are unit-tested) and the
// checks the appliance makes too, so the editor can say what is wrong before saving.
import type { Point, ViewSize } from '../map/planGeometry';
import { clampFraction, fractionToView } from '../map/planGeometry';

export const DEFAULT_ZONE_COLOR = '#e53935';

/** The polygon with point `index` moved to `to` (kept on the plan). */
export function movePoint(points: Point[], index: number, to: Point): Point[] {
  return points.map((p, i) => (i === index ? { x: clampFraction(to.x), y: clampFraction(to.y) } : p));
}

/** The polygon without point `index`. */
export function removePoint(points: Point[], index: number): Point[] {
  return points.filter((_, i) => i !== index);
}

/** Orientation of the turn a → b → c: >0 counter-clockwise, <0 clockwise, 0 collinear. */
function turn(a: Point, b: Point, c: Point): number {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

function onSegment(a: Point, b: Point, p: Point): boolean {
  return Math.min(a.x, b.x) <= p.x && p.x <= Math.max(a.x, b.x) && Math.min(a.y, b.y) <= p.y && p.y <= Math.max(a.y, b.y);
}

/** Whether segments ab and cd touch or cross. */
export function segmentsMeet(a: Point, b: Point, c: Point, d: Point): boolean {
  const d1 = turn(c, d, a);
  const d2 = turn(c, d, b);
  const d3 = turn(a, b, c);
  const d4 = turn(a, b, d);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  return (d1 === 0 && onSegment(c, d, a)) || (d2 === 0 && onSegment(c, d, b)) || (d3 === 0 && onSegment(a, b, c)) || (d4 === 0 && onSegment(a, b, d));
}

/** Whether two edges of the closed polygon that do not share a corner meet. */
export function selfCrosses(points: Point[]): boolean {
  const n = points.length;
  if (n < 4) return false;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      // Neighbouring edges share a corner; the first and last edges too.
      if (j === i + 1 || (i === 0 && j === n - 1)) continue;
      if (segmentsMeet(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n])) return true;
    }
  }
  return false;
}

export type ZoneProblem = 'tooFewPoints' | 'selfCrossing';

/** What the appliance would refuse in this polygon, or null. */
export function zoneProblem(points: Point[]): ZoneProblem | null {
  if (points.length < 3) return 'tooFewPoints';
  if (selfCrosses(points)) return 'selfCrossing';
  return null;
}

/** The `points` attribute of an SVG polygon drawn in `view`. */
export function svgPoints(points: Point[], view: ViewSize): string {
  return points
    .map((p) => fractionToView(p, view))
    .map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`)
    .join(' ');
}

/** The polygon's centre of mass (its vertices' mean when it has no area), for its label. */
export function centroid(points: Point[]): Point {
  let area = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < points.length; i++) {
    const a = points[i];
    const b = points[(i + 1) % points.length];
    const cross = a.x * b.y - b.x * a.y;
    area += cross;
    cx += (a.x + b.x) * cross;
    cy += (a.y + b.y) * cross;
  }
  if (Math.abs(area) < 1e-12) {
    const n = Math.max(points.length, 1);
    return { x: points.reduce((s, p) => s + p.x, 0) / n, y: points.reduce((s, p) => s + p.y, 0) / n };
  }
  return { x: cx / (3 * area), y: cy / (3 * area) };
}
