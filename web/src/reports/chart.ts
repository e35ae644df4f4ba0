// Chart geometry, kept apart from drawing: buckets → bars (stacked when there are several
// series) and values → a line with its area, in an SVG's own coordinates.

export interface Box {
  width: number;
  height: number;
  /** Room for the axis labels. */
  left: number;
  bottom: number;
  top: number;
  right: number;
}

export const CHART_BOX: Box = { width: 720, height: 240, left: 64, bottom: 36, top: 10, right: 10 };

/** The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above `max` (1 for nothing), so ticks are round. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= max - 1e-9) ?? 10;
  return step * power;
}

export interface Tick {
  value: number;
  y: number;
}

/** Horizontal grid lines: 0, ¼, ½, ¾ and all of `max`. */
export function ticks(max: number, box: Box): Tick[] {
  const plotHeight = box.height - box.top - box.bottom;
  return [0, 0.25, 0.5, 0.75, 1].map((f) => ({ value: max * f, y: box.top + plotHeight * (1 - f) }));
}

export interface Segment {
  series: number;
  value: number;
  y: number;
  height: number;
}

export interface Bar {
  index: number;
  x: number;
  width: number;
  /** The middle of the bar, where its label goes. */
  center: number;
  total: number;
  segments: Segment[];
}

export interface BarLayout {
  max: number;
  ticks: Tick[];
  bars: Bar[];
  /** Every how many bars a label is written, so labels do not overlap. */
  labelEvery: number;
}

/** Bars for `values[bucket][series]`, stacked bottom-up in series order. */
export function barLayout(values: number[][], box: Box = CHART_BOX, labelWidth = 44): BarLayout {
  const plotWidth = box.width - box.left - box.right;
  const plotHeight = box.height - box.top - box.bottom;
  const totals = values.map((v) => v.reduce((sum, x) => sum + Math.max(0, x), 0));
  const max = niceMax(Math.max(0, ...totals));
  const slot = values.length ? plotWidth / values.length : plotWidth;
  const gap = Math.min(slot * 0.2, 8);
  const bars = values.map((v, index) => {
    let base = box.top + plotHeight;
    const segments = v.map((value, series) => {
      const height = (Math.max(0, value) / max) * plotHeight;
      base -= height;
      return { series, value, y: base, height };
    });
    const x = box.left + index * slot + gap / 2;
    return { index, x, width: slot - gap, center: x + (slot - gap) / 2, total: totals[index], segments };
  });
  return { max, ticks: ticks(max, box), bars, labelEvery: Math.max(1, Math.ceil(labelWidth / slot)) };
}

export interface LinePoint {
  x: number;
  y: number;
  value: number;
}

export interface LineLayout {
  max: number;
  ticks: Tick[];
  points: LinePoint[];
  /** The SVG path of the line, and of the area under it down to the axis. */
  line: string;
  area: string;
  labelEvery: number;
}

const r = (n: number) => Math.round(n * 10) / 10;

/** A line through the middle of each bucket, and the area under it. */
export function lineLayout(values: number[], box: Box = CHART_BOX, labelWidth = 44): LineLayout {
  const plotWidth = box.width - box.left - box.right;
  const plotHeight = box.height - box.top - box.bottom;
  const max = niceMax(Math.max(0, ...values));
  const slot = values.length ? plotWidth / values.length : plotWidth;
  const bottom = box.top + plotHeight;
  const points = values.map((value, i) => ({
    x: r(box.left + slot * (i + 0.5)),
    y: r(bottom - (Math.max(0, value) / max) * plotHeight),
    value,
  }));
  const line = points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' ');
  const area = points.length ? `${line} L${points[points.length - 1].x},${bottom} L${points[0].x},${bottom} Z` : '';
  return { max, ticks: ticks(max, box), points, line, area, labelEvery: Math.max(1, Math.ceil(labelWidth / slot)) };
}

/** The index of the largest value (the first of equals), or -1 when there is none above 0. */
export function peakIndex(values: number[]): number {
  let best = -1;
  values.forEach((v, i) => {
    if (v > 0 && (best < 0 || v > values[best])) best = i;
  });
  return best;
}
