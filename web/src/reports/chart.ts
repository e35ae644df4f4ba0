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

export const CHART_BOX: Box = { width: 720, height: 240, left: 76, bottom: 36, top: 10, right: 10 };

/** What a chart's values are: counts step by 1, 2, 5 × 10ⁿ; durations by round clock units. */
export type Scale = 'count' | 'duration';

const DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const GRID_LINES = 4;

/** The step between grid lines: the smallest round one that fits `max` in four steps. */
export function niceStep(max: number, scale: Scale): number {
  const wanted = max > 0 ? max / GRID_LINES : 0;
  if (scale === 'duration' && wanted <= 86400) return DURATION_STEPS.find((s) => s >= wanted) ?? 86400;
  const unit = scale === 'duration' ? 86400 : 1;
  const x = Math.max(wanted / unit, 1);
  const power = 10 ** Math.floor(Math.log10(x));
  return ([1, 2, 5, 10].find((m) => m * power >= x - 1e-9) ?? 10) * power * unit;
}

export interface Tick {
  value: number;
  y: number;
}

/** Horizontal grid lines, one per step from 0 to `max`. */
export function ticks(max: number, box: Box): Tick[] {
  const plotHeight = box.height - box.top - box.bottom;
  return Array.from({ length: GRID_LINES + 1 }, (_, i) => ({ value: (max * i) / GRID_LINES, y: box.top + plotHeight * (1 - i / GRID_LINES) }));
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
export function barLayout(values: number[][], scale: Scale, box: Box = CHART_BOX, labelWidth = 44): BarLayout {
  const plotWidth = box.width - box.left - box.right;
  const plotHeight = box.height - box.top - box.bottom;
  const totals = values.map((v) => v.reduce((sum, x) => sum + Math.max(0, x), 0));
  const max = niceStep(Math.max(0, ...totals), scale) * GRID_LINES;
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
export function lineLayout(values: number[], scale: Scale, box: Box = CHART_BOX, labelWidth = 44): LineLayout {
  const plotWidth = box.width - box.left - box.right;
  const plotHeight = box.height - box.top - box.bottom;
  const max = niceStep(Math.max(0, ...values), scale) * GRID_LINES;
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
