// Alert rules and events: the rule form to and from the API's fields (schedule included),
// and the event list's filters and live updates.
import { ApiError, listPath } from '../api/client';
import type { AlertEvent, AlertRule, AlertStatus, Id, Schedule } from '../api/types';
import { idOrNull, numberOrNull, textOrNull, type FormValue, type FormValues } from '../components/form';

export const RULE_TYPES = [
  'FORBIDDEN_SECTOR',
  'DWELL_TIME',
  'ZONE_ENTER',
  'ZONE_EXIT',
  'ZONE_DWELL',
  'ABSENCE',
  'GATEWAY_OFFLINE',
  'GATEWAY_ONLINE',
  'CAMERA_OFFLINE',
  'CAMERA_ONLINE',
] as const;

export const DAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;

const ZONE_TYPES = ['ZONE_ENTER', 'ZONE_EXIT', 'ZONE_DWELL'];
const DEVICE_TYPES = ['FORBIDDEN_SECTOR', 'DWELL_TIME', 'GATEWAY_OFFLINE', 'GATEWAY_ONLINE', 'CAMERA_OFFLINE', 'CAMERA_ONLINE'];
const PEOPLE_TYPES = ['FORBIDDEN_SECTOR', 'DWELL_TIME', 'ABSENCE', ...ZONE_TYPES];

/** Which of the rule's targets and limits a rule type uses (the others are sent as null). */
export function ruleUses(ruleType: string) {
  return {
    device: DEVICE_TYPES.includes(ruleType),
    zone: ZONE_TYPES.includes(ruleType),
    people: PEOPLE_TYPES.includes(ruleType),
    dwell: ruleType === 'DWELL_TIME' || ruleType === 'ZONE_DWELL',
    absence: ruleType === 'ABSENCE',
  };
}

/** "08:00-12:00, 13:30-18:00" → time ranges; throws with the offending part. */
export function parseRanges(text: string): { start: string; end: string }[] {
  const time = /^([01]?\d|2[0-3]):[0-5]\d$|^24:00$/;
  return text
    .split(/[,;\n]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [start, end, extra] = part.split(/\s*[-–]\s*/);
      if (extra !== undefined || !start || !end || !time.test(start) || !time.test(end)) throw new Error(part);
      const pad = (t: string) => t.padStart(5, '0');
      return { start: pad(start), end: pad(end) };
    });
}

export function rangesText(schedule: Schedule | null): string {
  return (schedule?.ranges ?? []).map((r) => `${r.start}-${r.end}`).join(', ');
}

/** The schedule of the form: null (always armed) when neither days nor ranges are chosen. */
export function scheduleOf(days: FormValue, ranges: FormValue, badRangeMessage: string): Schedule | null {
  const chosen = Array.isArray(days) ? DAYS.filter((d) => days.includes(d)) : [];
  let parsed;
  try {
    parsed = parseRanges(typeof ranges === 'string' ? ranges : '');
  } catch (e) {
    throw new ApiError(422, '', { schedule_ranges: `${badRangeMessage} (${(e as Error).message})` });
  }
  if (chosen.length === 0 && parsed.length === 0) return null;
  return { days: chosen, ranges: parsed };
}

/** The body of a create or a full update; targets a type does not use are cleared. */
export function ruleBody(v: FormValues, badRangeMessage: string): Record<string, unknown> {
  const type = typeof v.rule_type === 'string' ? v.rule_type : '';
  const uses = ruleUses(type);
  return {
    name: v.name,
    description: textOrNull(v.description),
    rule_type: type,
    person_id: uses.people ? idOrNull(v.person_id) : null,
    group_id: uses.people ? idOrNull(v.group_id) : null,
    device_id: uses.device ? idOrNull(v.device_id) : null,
    zone_id: uses.zone ? idOrNull(v.zone_id) : null,
    max_dwell_seconds: uses.dwell ? numberOrNull(v.max_dwell_seconds) : null,
    max_absence_seconds: uses.absence ? numberOrNull(v.max_absence_seconds) : null,
    is_active: v.is_active,
    schedule: scheduleOf(v.schedule_days, v.schedule_ranges, badRangeMessage),
    cooldown_seconds: numberOrNull(v.cooldown_seconds),
    create_incident: v.create_incident,
    incident_severity: v.incident_severity || 'MEDIUM',
    incident_kind: textOrNull(v.incident_kind),
    incident_title_template: textOrNull(v.incident_title_template),
    incident_description_template: textOrNull(v.incident_description_template),
    incident_sla_minutes: numberOrNull(v.incident_sla_minutes),
    incident_assigned_group_id: idOrNull(v.incident_assigned_group_id),
    incident_assigned_to_user_id: idOrNull(v.incident_assigned_to_user_id),
    incident_auto_close_on_end: v.incident_auto_close_on_end,
  };
}

/** The form's starting values besides those read from the rule's properties. */
export function ruleFormValues(rule: AlertRule | null): FormValues {
  if (!rule) {
    return { rule_type: 'ZONE_ENTER', schedule_days: [], schedule_ranges: '', create_incident: false, incident_auto_close_on_end: false, incident_severity: 'MEDIUM' };
  }
  return { schedule_days: rule.schedule?.days ?? [], schedule_ranges: rangesText(rule.schedule) };
}

export interface EventFilter {
  status: AlertStatus | '';
  ruleId: string;
  eventType: string;
  /** Only the alerts the live map shows (see isLive). */
  liveOnly?: boolean;
}

export const NO_FILTER: EventFilter = { status: '', ruleId: '', eventType: '' };

/** GET /alert-events for a filter: the rule and type in the query, newest first. */
export function eventsPath(filter: EventFilter, limit = 200): string {
  return listPath('/alert-events', {
    limit,
    rule_id: filter.ruleId || undefined,
    event_type: filter.eventType || undefined,
    is_open: filter.liveOnly ? 'true' : undefined,
  });
}

/** Whether an event belongs in the list (the status is the operators' step, not in the query). */
export function matches(event: AlertEvent, filter: EventFilter): boolean {
  return (
    (!filter.liveOnly || isLive(event)) &&
    (!filter.status || event.status === filter.status) &&
    (!filter.ruleId || event.rule_id === Number(filter.ruleId)) &&
    (!filter.eventType || event.event_type === filter.eventType)
  );
}

/** The list with `event` added or replaced, newest first; events leaving the filter drop out. */
export function upsertEvent(events: AlertEvent[], event: AlertEvent, filter: EventFilter, limit = 200): AlertEvent[] {
  const others = events.filter((e) => e.id !== event.id);
  const next = matches(event, filter) ? [event, ...others] : others;
  return next.sort((a, b) => b.started_at.localeCompare(a.started_at) || b.id - a.id).slice(0, limit);
}

/** An alert the live map shows: its situation goes on and nobody resolved it. */
export function isLive(event: AlertEvent): boolean {
  return event.is_open && event.status !== 'resolved';
}

/** The zone of a zone rule's event, from its payload. */
export function zoneOf(event: AlertEvent): { id: Id; name: string | null } | null {
  if (!event.payload) return null;
  try {
    const payload = JSON.parse(event.payload) as { zone_id?: unknown; zone_name?: unknown };
    return typeof payload.zone_id === 'number' ? { id: payload.zone_id, name: typeof payload.zone_name === 'string' ? payload.zone_name : null } : null;
  } catch {
    return null;
  }
}
