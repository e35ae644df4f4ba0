// A camera's event list: the query behind it, and keeping it current with the live stream.
import type { CameraEvent, CameraEventNotice, Id, NearbyPerson } from '../api/types';

/** The list holds the newest this many events (the API's default page). */
export const EVENT_LIMIT = 100;

/** The filters as typed; the times come from <input type="datetime-local"> ('' = open). */
export interface EventFilter {
  analyticType: string;
  since: string;
  until: string;
}

export const NO_FILTER: EventFilter = { analyticType: '', since: '', until: '' };

/** A listed event. One that arrived live has no topic or payload until they are loaded. */
export interface ListedEvent {
  id: Id;
  analytic_type: string;
  occurred_at: string;
  person_id: Id | null;
  nearby_people: NearbyPerson[];
  topic: string | null;
  payload: Record<string, unknown> | null;
}

/** What a stored event and a live notice of one both tell. */
function described({ analytic_type, occurred_at, person_id, nearby_people }: CameraEvent | CameraEventNotice) {
  return { analytic_type, occurred_at, person_id, nearby_people: nearby_people ?? [] };
}

export function fromApi(e: CameraEvent): ListedEvent {
  return { id: e.id, ...described(e), topic: e.topic, payload: e.payload };
}

/** A live notice carries no topic or payload: they are fetched when asked for. */
export function fromNotice(n: CameraEventNotice): ListedEvent {
  return { id: n.event_id, ...described(n), topic: null, payload: null };
}

/** A datetime-local value (the browser's time zone) as RFC 3339 UTC; undefined if empty. */
export function localToIso(local: string): string | undefined {
  if (local.trim() === '') return undefined;
  const time = new Date(local);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

export function eventsPath(cameraId: Id, filter: EventFilter): string {
  const params = new URLSearchParams({ limit: String(EVENT_LIMIT) });
  const type = filter.analyticType.trim();
  if (type) params.set('analytic_type', type);
  const since = localToIso(filter.since);
  if (since) params.set('since', since);
  const until = localToIso(filter.until);
  if (until) params.set('until', until);
  return `/devices/cameras/${cameraId}/events?${params}`;
}

/** The events within a second of `occurredAt`: how a live event's full row is found (the API has no GET by id). */
export function aroundPath(cameraId: Id, occurredAt: string): string {
  const at = Date.parse(occurredAt);
  const params = new URLSearchParams({
    limit: String(EVENT_LIMIT),
    since: new Date(at - 1000).toISOString(),
    until: new Date(at + 1000).toISOString(),
  });
  return `/devices/cameras/${cameraId}/events?${params}`;
}

/** Whether a live event belongs in the list as filtered (the same rules as the API's query). */
export function matchesFilter(event: { analytic_type: string; occurred_at: string }, filter: EventFilter): boolean {
  const type = filter.analyticType.trim();
  if (type && event.analytic_type !== type) return false;
  const at = Date.parse(event.occurred_at);
  const since = localToIso(filter.since);
  if (since && at < Date.parse(since)) return false;
  const until = localToIso(filter.until);
  if (until && at >= Date.parse(until)) return false;
  return true;
}

const newestFirst = (a: ListedEvent, b: ListedEvent) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at) || b.id - a.id;

/** `incoming` merged into `current` by id, newest first, at most `limit` rows. */
export function mergeEvents(current: ListedEvent[], incoming: ListedEvent[], limit = EVENT_LIMIT): ListedEvent[] {
  const byId = new Map(current.map((e) => [e.id, e]));
  for (const event of incoming) {
    const known = byId.get(event.id);
    // The stream's copy arrives without the payload: it never replaces a loaded row.
    byId.set(event.id, known && event.payload === null ? known : event);
  }
  return [...byId.values()].sort(newestFirst).slice(0, limit);
}

const SNAPSHOT_KEYS = ['SnapshotURL', 'snapshotUrl', 'snapshot_url'];

/**
 * The snapshot address a payload names, if it is an http(s) URL. It points into the camera
 * network, so the console links to it rather than loading it; other schemes (javascript:…)
 * are never turned into links.
 */
export function snapshotUrl(payload: Record<string, unknown> | null): string | null {
  for (const key of SNAPSHOT_KEYS) {
    const value = payload?.[key];
    if (typeof value !== 'string') continue;
    try {
      const url = new URL(value.trim());
      if (url.protocol === 'http:' || url.protocol === 'https:') return url.href;
    } catch {
      // not a URL: shown in the payload only
    }
  }
  return null;
}

/** Analytic types to suggest in the filter: the camera's own and those seen, sorted. */
export function analyticTypes(events: ListedEvent[], cameraAnalytics: string[] | null): string[] {
  return [...new Set([...(cameraAnalytics ?? []), ...events.map((e) => e.analytic_type)])].sort((a, b) => a.localeCompare(b));
}
