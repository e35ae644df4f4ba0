import { describe, expect, it } from 'vitest';
import { accuracyRadii, clientToFraction, fractionToView, isInside, nudge, viewSize } from './planGeometry';

describe('plan coordinates', () => {
  const rect = { left: 100, top: 50, width: 400, height: 200 };

  it('turns a pointer position into fractions of the plan, clamped to it', () => {
    expect(clientToFraction(rect, 300, 150)).toEqual({ x: 0.5, y: 0.5 });
    expect(clientToFraction(rect, 100, 50)).toEqual({ x: 0, y: 0 });
    expect(clientToFraction(rect, 900, -10)).toEqual({ x: 1, y: 0 });
    expect(isInside(rect, 300, 150)).toBe(true);
    expect(isInside(rect, 99, 150)).toBe(false);
  });

  it('draws fractions in a view with the image’s aspect ratio', () => {
    const view = viewSize(800, 400);
    expect(view).toEqual({ width: 1000, height: 500 });
    expect(fractionToView({ x: 0.25, y: 0.5 }, view)).toEqual({ x: 250, y: 250 });
    expect(viewSize(null, 400)).toEqual({ width: 1000, height: 750 });
  });

  it('sizes the accuracy circle from the plan’s metres', () => {
    const view = { width: 1000, height: 500 };
    expect(accuracyRadii(2, { width_m: 40, height_m: 20 }, view)).toEqual({ rx: 50, ry: 50 });
    expect(accuracyRadii(2, { width_m: 40, height_m: 40 }, view)).toEqual({ rx: 50, ry: 25 });
    expect(accuracyRadii(2, { width_m: null, height_m: 20 }, view)).toBeNull();
    expect(accuracyRadii(null, { width_m: 40, height_m: 20 }, view)).toBeNull();
  });

  it('moves a device with the arrow keys, staying on the plan', () => {
    expect(nudge({ x: 0.5, y: 0.5 }, 'ArrowRight', false)).toEqual({ x: 0.51, y: 0.5 });
    expect(nudge({ x: 0.5, y: 0.02 }, 'ArrowUp', true)).toEqual({ x: 0.5, y: 0 });
    expect(nudge({ x: 0.5, y: 0.5 }, 'Enter', false)).toBeNull();
  });
});
