// A heat map's grid drawn over its plan: where each cell lies in the plan's view, its colour,
// the legend, and the hottest areas in words (the text alternative to the picture).
import type { Id } from '../api/types';
import type { Heatmap } from './history';
import { insidePolygon, type Point, type ViewSize } from './planGeometry';

export interface CellRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The cell at (row, col) of a grid laid over the whole plan, in view units. */
export function cellRect(row: number, col: number, grid: { rows: number; columns: number }, view: ViewSize): CellRect {
  const width = view.width / grid.columns;
  const height = view.height / grid.rows;
  return { x: col * width, y: row * height, width, height };
}

/** The centre of cell (row, col) as fractions of the plan. */
export function cellCentre(row: number, col: number, grid: { rows: number; columns: number }): Point {
  return { x: (col + 0.5) / grid.columns, y: (row + 0.5) / grid.rows };
}

export interface HeatCell {
  row: number;
  col: number;
  seconds: number;
}

/** The cells anybody spent time in (empty ones are not drawn). */
export function occupiedCells(heatmap: Heatmap): HeatCell[] {
  const cells: HeatCell[] = [];
  const count = Math.min(heatmap.cells.length, heatmap.rows * heatmap.columns);
  for (let i = 0; i < count; i++) {
    const seconds = heatmap.cells[i];
    if (seconds > 0) cells.push({ row: Math.floor(i / heatmap.columns), col: i % heatmap.columns, seconds });
  }
  return cells;
}

/** Yellow → orange → red (ColorBrewer YlOrRd), readable over a light plan. */
const STOPS: [number, [number, number, number]][] = [
  [0, [255, 237, 160]],
  [0.5, [253, 141, 60]],
  [1, [189, 0, 38]],
];

/**
 * The colour of `seconds` on a scale up to `max`. The square root spreads the scale: dwell
 * is heavy-tailed (a desk holds hours, a corridor seconds) and a linear scale would show
 * only the desks. Hotter cells are also more opaque.
 */
export function heatColor(seconds: number, max: number): string {
  const t = max > 0 ? Math.sqrt(Math.min(Math.max(seconds, 0), max) / max) : 0;
  let i = 0;
  while (i < STOPS.length - 2 && t > STOPS[i + 1][0]) i++;
  const [t0, c0] = STOPS[i];
  const [t1, c1] = STOPS[i + 1];
  const f = (t - t0) / (t1 - t0);
  const [r, g, b] = c0.map((c, k) => Math.round(c + (c1[k] - c) * f));
  const alpha = (0.35 + 0.4 * t).toFixed(2);
  return `rgb(${r} ${g} ${b} / ${alpha})`;
}

/** The legend's marks: the colour at evenly spaced points of the scale and the dwell there. */
export function legendStops(max: number, count = 5): { seconds: number; color: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const t = i / (count - 1);
    const seconds = max * t * t;
    return { seconds, color: heatColor(seconds, max) };
  });
}

/** A dwell as "45 s", "12 min", "2 h 05 min" (the same units in Portuguese and English). */
export function formatDwell(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const hours = Math.floor(s / 3600);
  const minutes = Math.round((s % 3600) / 60);
  return minutes === 60 ? `${hours + 1} h 00 min` : `${hours} h ${String(minutes).padStart(2, '0')} min`;
}

export type Region = `${'top' | 'middle' | 'bottom'}-${'left' | 'centre' | 'right'}`;
export type Area = { kind: 'zone'; zoneId: Id; name: string } | { kind: 'region'; region: Region };

export interface HotArea {
  area: Area;
  seconds: number;
  /** Of all the dwell in the heat map, 0–1. */
  share: number;
}

const VERTICAL = ['top', 'middle', 'bottom'] as const;
const HORIZONTAL = ['left', 'centre', 'right'] as const;

/**
 * Where people spent the most time, by area: a cell counts for the first zone its centre
 * lies in, otherwise for the ninth of the plan it is in (top left … bottom right).
 */
export function hottestAreas(heatmap: Heatmap, zones: { id: Id; name: string; points: Point[] }[], limit = 3): HotArea[] {
  const totals = new Map<string, { area: Area; seconds: number }>();
  let total = 0;
  for (const cell of occupiedCells(heatmap)) {
    const centre = cellCentre(cell.row, cell.col, heatmap);
    const zone = zones.find((z) => insidePolygon(centre, z.points));
    const area: Area = zone
      ? { kind: 'zone', zoneId: zone.id, name: zone.name }
      : { kind: 'region', region: `${VERTICAL[Math.min(2, Math.floor(centre.y * 3))]}-${HORIZONTAL[Math.min(2, Math.floor(centre.x * 3))]}` };
    const key = area.kind === 'zone' ? `zone:${area.zoneId}` : area.region;
    const entry = totals.get(key) ?? { area, seconds: 0 };
    entry.seconds += cell.seconds;
    totals.set(key, entry);
    total += cell.seconds;
  }
  return [...totals.values()]
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, limit)
    .map((e) => ({ ...e, share: total > 0 ? e.seconds / total : 0 }));
}
