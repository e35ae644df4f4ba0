// Coordinates on a floor plan. The API stores positions as fractions (0–1) of the plan
// image; the map draws in an SVG whose viewBox has the image's aspect ratio, VIEW_WIDTH
// units wide, laid exactly over the <img>.

export const VIEW_WIDTH = 1000;

export interface Point {
  x: number;
  y: number;
}

export interface ViewSize {
  width: number;
  height: number;
}

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The SVG view for an image of this pixel size (a 4:3 default until the image has loaded). */
export function viewSize(imageWidth: number | null | undefined, imageHeight: number | null | undefined): ViewSize {
  if (!imageWidth || !imageHeight) return { width: VIEW_WIDTH, height: VIEW_WIDTH * 0.75 };
  return { width: VIEW_WIDTH, height: (VIEW_WIDTH * imageHeight) / imageWidth };
}

export function clampFraction(value: number): number {
  return Math.min(1, Math.max(0, value));
}

export function fractionToView(point: Point, view: ViewSize): Point {
  return { x: point.x * view.width, y: point.y * view.height };
}

/** Where a pointer at (clientX, clientY) falls on a plan drawn in `rect`, as fractions. */
export function clientToFraction(rect: Rect, clientX: number, clientY: number): Point {
  return {
    x: clampFraction((clientX - rect.left) / rect.width),
    y: clampFraction((clientY - rect.top) / rect.height),
  };
}

export function isInside(rect: Rect, clientX: number, clientY: number): boolean {
  return clientX >= rect.left && clientX <= rect.left + rect.width && clientY >= rect.top && clientY <= rect.top + rect.height;
}

/**
 * The accuracy circle's radii in view units: an ellipse, because a plan's metres per pixel
 * can differ between the axes when width_m/height_m do not match the image's aspect.
 * Null when the plan's size in metres is unknown.
 */
export function accuracyRadii(
  accuracyM: number | null,
  plan: { width_m: number | null; height_m: number | null },
  view: ViewSize,
): { rx: number; ry: number } | null {
  if (accuracyM === null || !plan.width_m || !plan.height_m || accuracyM <= 0) return null;
  return { rx: (accuracyM / plan.width_m) * view.width, ry: (accuracyM / plan.height_m) * view.height };
}

/** A keyboard nudge of a device on the plan: 1 % of the plan per arrow press, 5 % with Shift. */
export function nudge(point: Point, key: string, large: boolean): Point | null {
  const step = large ? 0.05 : 0.01;
  const moves: Record<string, Point> = {
    ArrowLeft: { x: -step, y: 0 },
    ArrowRight: { x: step, y: 0 },
    ArrowUp: { x: 0, y: -step },
    ArrowDown: { x: 0, y: step },
  };
  const move = moves[key];
  if (!move) return null;
  return { x: clampFraction(point.x + move.x), y: clampFraction(point.y + move.y) };
}

/** Whether `point` lies inside the polygon (ray casting; fractions or view units alike). */
export function insidePolygon(point: Point, polygon: Point[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const a = polygon[i];
    const b = polygon[j];
    if (a.y > point.y !== b.y > point.y && point.x < ((b.x - a.x) * (point.y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}
