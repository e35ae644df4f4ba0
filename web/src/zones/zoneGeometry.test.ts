import { describe, expect, it } from 'vitest';
import { centroid, movePoint, removePoint, segmentsMeet, selfCrosses, svgPoints, zoneProblem } from './zoneGeometry';

const square = [
  { x: 0.1, y: 0.1 },
  { x: 0.5, y: 0.1 },
  { x: 0.5, y: 0.5 },
  { x: 0.1, y: 0.5 },
];

describe('zone polygons', () => {
  it('moves a point, keeping it on the plan', () => {
    expect(movePoint(square, 2, { x: 0.7, y: 1.4 })[2]).toEqual({ x: 0.7, y: 1 });
    expect(movePoint(square, 2, { x: 0.7, y: 0.6 })).toHaveLength(4);
    expect(movePoint(square, 0, { x: -1, y: 0.2 })[0]).toEqual({ x: 0, y: 0.2 });
  });

  it('removes a point', () => {
    expect(removePoint(square, 1)).toEqual([square[0], square[2], square[3]]);
  });

  it('finds crossing and touching segments', () => {
    expect(segmentsMeet({ x: 0, y: 0 }, { x: 1, y: 1 }, { x: 0, y: 1 }, { x: 1, y: 0 })).toBe(true);
    expect(segmentsMeet({ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 0, y: 1 }, { x: 1, y: 1 })).toBe(false);
    expect(segmentsMeet({ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 0.5, y: 0 }, { x: 0.5, y: 1 })).toBe(true);
  });

  it('refuses what the appliance refuses: fewer than 3 points, a self-crossing polygon', () => {
    expect(zoneProblem(square)).toBeNull();
    expect(zoneProblem(square.slice(0, 2))).toBe('tooFewPoints');
    // A bow tie: the second and fourth edges cross.
    const bowTie = [square[0], square[1], square[3], square[2]];
    expect(selfCrosses(bowTie)).toBe(true);
    expect(zoneProblem(bowTie)).toBe('selfCrossing');
    expect(selfCrosses(square.slice(0, 3))).toBe(false);
  });

  it('draws in the view and labels at the centre', () => {
    expect(svgPoints(square.slice(0, 2), { width: 1000, height: 500 })).toBe('100.0,50.0 500.0,50.0');
    const c = centroid(square);
    expect(c.x).toBeCloseTo(0.3);
    expect(c.y).toBeCloseTo(0.3);
    expect(centroid([{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 0.5, y: 0 }])).toEqual({ x: 0.5, y: 0 });
  });
});
