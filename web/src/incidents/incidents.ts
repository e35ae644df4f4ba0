// Incidents: SLA countdowns, the list's filters and the timeline's merging of new messages.
import { listPath } from '../api/client';
import type { Id, Incident, IncidentMessage } from '../api/types';

const ACTIVE = ['OPEN', 'IN_PROGRESS'];

export function isActive(status: string): boolean {
  return ACTIVE.includes(status);
}

/** Milliseconds left until the incident is due (negative: late); null without a due time or once closed. */
export function slaLeft(incident: Pick<Incident, 'status' | 'due_at'>, now: number): number | null {
  if (!incident.due_at || !isActive(incident.status)) return null;
  return Date.parse(incident.due_at) - now;
}

/** Past its due time and still being worked (the appliance's `overdue`, kept current by the clock). */
export function isOverdue(incident: Pick<Incident, 'status' | 'due_at'> & { overdue?: boolean }, now: number): boolean {
  const left = slaLeft(incident, now);
  return left === null ? false : left <= 0 || incident.overdue === true;
}

/** "1 h 05 min", "4 min 09 s", "2 d 3 h": the larger two units of a duration. */
export function formatDuration(ms: number): string {
  const total = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${two(minutes)} min`;
  return `${minutes} min ${two(seconds)} s`;
}

export type Scope = 'mine' | 'all';

export interface IncidentFilter {
  scope: Scope;
  status: string;
  severity: string;
  kind: string;
}

/** "Open" in the original's sense: OPEN and IN_PROGRESS together. */
export const ANY_ACTIVE = 'ACTIVE';

/** The list for a filter: mine (assigned to me, my groups, or general) or everything visible. */
export function incidentsPath(filter: IncidentFilter, limit = 200): string {
  const base = filter.scope === 'mine' ? '/incidents/my' : '/incidents';
  const status = filter.status && filter.status !== ANY_ACTIVE ? filter.status : undefined;
  return listPath(base, {
    limit,
    only_open: filter.status === ANY_ACTIVE ? 'true' : undefined,
    status,
    severity: filter.severity || undefined,
    kind: filter.kind || undefined,
  });
}

/** Applied on the answer too, so a server that ignores a filter still shows the right rows. */
export function matchesIncident(incident: Incident, filter: IncidentFilter): boolean {
  const status = filter.status === ANY_ACTIVE ? isActive(incident.status) : !filter.status || incident.status === filter.status;
  return status && (!filter.severity || incident.severity === filter.severity) && (!filter.kind || incident.kind === filter.kind);
}

/** Overdue first, then the soonest due, then the newest. */
export function byUrgency(now: number) {
  return (a: Incident, b: Incident) => {
    const late = Number(isOverdue(b, now)) - Number(isOverdue(a, now));
    if (late !== 0) return late;
    const left = (i: Incident) => slaLeft(i, now) ?? Number.POSITIVE_INFINITY;
    return left(a) - left(b) || b.created_at.localeCompare(a.created_at);
  };
}

/** The timeline with new messages added once each, in id order. */
export function mergeMessages(current: IncidentMessage[], incoming: IncidentMessage[]): IncidentMessage[] {
  const byId = new Map<Id, IncidentMessage>(current.map((m) => [m.id, m]));
  for (const m of incoming) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** The polling fallback's request: what came after the last message known. */
export function messagesAfterPath(incidentId: Id, messages: IncidentMessage[]): string {
  const last = messages.reduce((max, m) => Math.max(max, m.id), 0);
  return `/incidents/${incidentId}/messages?after_id=${last}&limit=200`;
}

/** Whether a message shows an image inline. */
export function isImage(message: IncidentMessage): boolean {
  return message.media_type === 'IMAGE' && !!message.media_url;
}
