// Position history and heat maps over a time window: the API's shapes
// (GET /positions/history, GET /floor-plans/{id}/heatmap) and how the console asks for them.
import type { Id } from '../api/types';

export interface HistoryPoint {
  ts: string;
  floor_plan_id: Id;
  /** Fractions (0–1) of the plan image, like /positions/current. */
  x: number;
  y: number;
  accuracy_m: number | null;
}

export interface HistoryTrack {
  tag_id: Id;
  tag_mac_address: string;
  person_id: Id | null;
  person_full_name: string | null;
  /** Ascending by ts. */
  points: HistoryPoint[];
}

export interface PositionHistory {
  from_ts: string;
  to_ts: string;
  /** More points lay in the window than `limit`: the answer is incomplete. */
  truncated: boolean;
  tracks: HistoryTrack[];
}

export interface Heatmap {
  floor_plan_id: Id;
  from_ts: string;
  to_ts: string;
  columns: number;
  rows: number;
  /** Row-major, rows × columns, row 0 at the top of the image: seconds of dwell per cell. */
  cells: number[];
  max_seconds: number;
  total_seconds: number;
  people_count: number;
}

/** A time window as typed in two <input type="datetime-local"> (the browser's time zone). */
export interface WindowDraft {
  from: string;
  to: string;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** An instant as a datetime-local value, in the browser's time zone, to the minute. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The last `hours` up to now (the end rounded up to the next minute, so now is inside). */
export function lastHours(hours: number, now = Date.now()): WindowDraft {
  const to = Math.ceil(now / 60_000) * 60_000;
  return { from: toLocalInput(to - hours * 3_600_000), to: toLocalInput(to) };
}

export type WindowProblem = 'invalid' | 'order';

/** The window as RFC 3339 UTC instants, or what is wrong with it (the API checks the length). */
export function parseWindow(draft: WindowDraft): { from: string; to: string } | WindowProblem {
  const from = new Date(draft.from).getTime();
  const to = new Date(draft.to).getTime();
  if (!draft.from || !draft.to || Number.isNaN(from) || Number.isNaN(to)) return 'invalid';
  if (from >= to) return 'order';
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

/** The history of one person on a plan, or of every tag on it (`personId` null). */
export function historyPath(query: { planId: Id; personId: Id | null; from: string; to: string }): string {
  const params = new URLSearchParams({ floor_plan_id: String(query.planId) });
  if (query.personId !== null) params.set('person_id', String(query.personId));
  params.set('from_ts', query.from);
  params.set('to_ts', query.to);
  return `/positions/history?${params}`;
}

export const DEFAULT_COLUMNS = 40;

export function heatmapPath(query: { planId: Id; from: string; to: string; groupId: Id | null; columns: number }): string {
  const params = new URLSearchParams({ from_ts: query.from, to_ts: query.to, columns: String(query.columns) });
  if (query.groupId !== null) params.set('group_id', String(query.groupId));
  return `/floor-plans/${query.planId}/heatmap?${params}`;
}
