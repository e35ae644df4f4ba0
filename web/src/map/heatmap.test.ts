import { describe, expect, it } from 'vitest';
import { cellCentre, cellRect, formatDwell, heatColor, hottestAreas, legendStops, occupiedCells } from './heatmap';
import type { Heatmap } from './history';
import { insidePolygon } from './planGeometry';

function heatmap(columns: number, rows: number, cells: number[]): Heatmap {
  const max = Math.max(0, ...cells);
  const total = cells.reduce((a, b) => a + b, 0);
  return { floor_plan_id: 1, from_ts: '2026-12-01T14:00:00Z', to_ts: '2026-12-01T15:00:00Z', columns, rows, cells, max_seconds: max, total_seconds: total, people_count: 2 };
}

describe('heat map geometry', () => {
  it('lays the grid over the whole plan view, row 0 at the top', () => {
    const view = { width: 1000, height: 600 };
    const grid = { columns: 40, rows: 24 };
    expect(cellRect(0, 0, grid, view)).toEqual({ x: 0, y: 0, width: 25, height: 25 });
    expect(cellRect(23, 39, grid, view)).toEqual({ x: 975, y: 575, width: 25, height: 25 });
    // A plan whose metres are squarer than its image: cells are fractions of the image.
    expect(cellRect(1, 2, { columns: 4, rows: 4 }, { width: 1000, height: 500 })).toEqual({ x: 500, y: 125, width: 250, height: 125 });
    expect(cellCentre(1, 2, { columns: 4, rows: 2 })).toEqual({ x: 0.625, y: 0.75 });
  });

  it('draws only the cells somebody spent time in, row-major', () => {
    expect(occupiedCells(heatmap(3, 2, [0, 5, 0, 0, 0, 7]))).toEqual([
      { row: 0, col: 1, seconds: 5 },
      { row: 1, col: 2, seconds: 7 },
    ]);
    // Extra values beyond rows × columns are ignored.
    expect(occupiedCells(heatmap(2, 1, [0, 1, 9]))).toHaveLength(1);
  });
});

describe('heat map colour scale', () => {
  it('goes from pale yellow to dark red, more opaque when hotter', () => {
    expect(heatColor(0, 100)).toBe('rgb(255 237 160 / 0.35)');
    expect(heatColor(100, 100)).toBe('rgb(189 0 38 / 0.75)');
    // The square root: a quarter of the maximum is half way up the scale.
    expect(heatColor(25, 100)).toBe('rgb(253 141 60 / 0.55)');
    expect(heatColor(500, 100)).toBe(heatColor(100, 100));
    expect(heatColor(5, 0)).toBe(heatColor(0, 100));
  });

  it('labels the legend with the dwell at each mark', () => {
    const stops = legendStops(400, 5);
    expect(stops.map((s) => s.seconds)).toEqual([0, 25, 100, 225, 400]);
    expect(stops[2].color).toBe(heatColor(100, 400));
  });

  it('formats dwell in seconds, minutes, hours', () => {
    expect(formatDwell(12.4)).toBe('12 s');
    expect(formatDwell(150)).toBe('3 min');
    expect(formatDwell(7500)).toBe('2 h 05 min');
    expect(formatDwell(7199)).toBe('2 h 00 min');
  });
});

describe('hottest areas', () => {
  it('adds the cells up by zone, else by ninth of the plan, hottest first', () => {
    // 3 × 3 cells: each cell is one ninth of the plan.
    const map = heatmap(3, 3, [60, 0, 0, 0, 30, 0, 0, 0, 10]);
    const zone = { id: 5, name: 'Sala B', points: [{ x: 0.6, y: 0.6 }, { x: 1, y: 0.6 }, { x: 1, y: 1 }, { x: 0.6, y: 1 }] };
    expect(hottestAreas(map, [zone])).toEqual([
      { area: { kind: 'region', region: 'top-left' }, seconds: 60, share: 0.6 },
      { area: { kind: 'region', region: 'middle-centre' }, seconds: 30, share: 0.3 },
      { area: { kind: 'zone', zoneId: 5, name: 'Sala B' }, seconds: 10, share: 0.1 },
    ]);
    expect(hottestAreas(map, [zone], 1)).toHaveLength(1);
    expect(hottestAreas(heatmap(2, 2, [0, 0, 0, 0]), [])).toEqual([]);
  });

  it('tells whether a point is inside a polygon', () => {
    const triangle = [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 0, y: 1 }];
    expect(insidePolygon({ x: 0.2, y: 0.2 }, triangle)).toBe(true);
    expect(insidePolygon({ x: 0.8, y: 0.8 }, triangle)).toBe(false);
  });
});
