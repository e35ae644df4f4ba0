import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors';
import type { AlertEvent } from '../api/types';
import { NO_FILTER as NONE, eventsPath, isLive, parseRanges, rangesText, ruleBody, ruleFormValues, ruleUses, scheduleOf, upsertEvent, zoneOf } from './alerts';

function event(id: number, changes: Partial<AlertEvent> = {}): AlertEvent {
  return {
    id, rule_id: 1, event_type: 'ZONE_ENTER', person_id: 3, tag_id: 4, device_id: null, floor_plan_id: 7, incident_id: null,
    message: 'entered', payload: null, started_at: `2026-01-01T00:00:0${id}Z`, last_seen_at: '2026-01-01T00:00:00Z',
    ended_at: null, is_open: true, close_reason: null, status: 'open', acknowledged_by: null, acknowledged_at: null,
    acknowledged_note: null, resolved_by: null, resolved_at: null, resolved_note: null, ...changes,
  };
}

const NO_FILTER = NONE;

describe('schedules', () => {
  it('reads time ranges typed as text', () => {
    expect(parseRanges('8:00-12:00, 13:30 - 18:00')).toEqual([{ start: '08:00', end: '12:00' }, { start: '13:30', end: '18:00' }]);
    expect(parseRanges('22:00-24:00')).toEqual([{ start: '22:00', end: '24:00' }]);
    expect(parseRanges('  ')).toEqual([]);
    expect(() => parseRanges('08:00-25:00')).toThrow('08:00-25:00');
    expect(() => parseRanges('08:00')).toThrow();
  });

  it('sends no schedule when nothing is chosen, else the days in week order', () => {
    expect(scheduleOf([], '', 'bad')).toBeNull();
    expect(scheduleOf(['SUN', 'MON'], '08:00-18:00', 'bad')).toEqual({ days: ['MON', 'SUN'], ranges: [{ start: '08:00', end: '18:00' }] });
    expect(rangesText({ days: [], ranges: [{ start: '08:00', end: '18:00' }, { start: '20:00', end: '22:00' }] })).toBe('08:00-18:00, 20:00-22:00');
  });

  it('names the ranges field when a range is malformed', () => {
    let refused: unknown;
    try {
      scheduleOf(['MON'], 'noon-ish', 'Use HH:MM-HH:MM');
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).fields.schedule_ranges).toContain('Use HH:MM-HH:MM');
  });
});

describe('rule body', () => {
  const values = {
    name: 'Lab', description: '', rule_type: 'ZONE_DWELL', person_id: '5', group_id: '', device_id: '9', zone_id: '2',
    max_dwell_seconds: '120', max_absence_seconds: '60', is_active: true, schedule_days: [], schedule_ranges: '',
    cooldown_seconds: '', create_incident: true, incident_severity: 'HIGH', incident_kind: '', incident_title_template: 'Stay in {zone_name}',
    incident_description_template: '', incident_sla_minutes: '30', incident_assigned_group_id: '3', incident_assigned_to_user_id: '', incident_auto_close_on_end: true,
  };

  it('sends the targets of the rule type and clears the others', () => {
    const body = ruleBody(values, 'bad');
    expect(body).toMatchObject({ rule_type: 'ZONE_DWELL', zone_id: 2, person_id: 5, group_id: null, device_id: null, max_dwell_seconds: 120, max_absence_seconds: null });
    expect(body).toMatchObject({ create_incident: true, incident_severity: 'HIGH', incident_sla_minutes: 30, incident_assigned_group_id: 3, incident_title_template: 'Stay in {zone_name}', schedule: null });
    expect(ruleBody({ ...values, rule_type: 'GATEWAY_OFFLINE' }, 'bad')).toMatchObject({ device_id: 9, zone_id: null, person_id: null, max_dwell_seconds: null });
    expect(ruleBody({ ...values, rule_type: 'ABSENCE' }, 'bad')).toMatchObject({ max_absence_seconds: 60, zone_id: null, person_id: 5 });
  });

  it('knows which fields a type uses', () => {
    expect(ruleUses('ZONE_ENTER')).toEqual({ device: false, zone: true, people: true, dwell: false, absence: false });
    expect(ruleUses('CAMERA_ONLINE')).toEqual({ device: true, zone: false, people: false, dwell: false, absence: false });
  });

  it('starts a new rule without incidents, and reads a rule’s schedule back', () => {
    expect(ruleFormValues(null)).toMatchObject({ create_incident: false, incident_auto_close_on_end: false, schedule_days: [] });
    expect(ruleFormValues({ schedule: { days: ['MON'], ranges: [{ start: '08:00', end: '12:00' }] } } as never)).toEqual({ schedule_days: ['MON'], schedule_ranges: '08:00-12:00' });
  });
});

describe('alert events', () => {
  it('asks for a rule’s and a type’s events', () => {
    expect(eventsPath(NO_FILTER)).toBe('/alert-events?limit=200');
    expect(eventsPath({ status: 'open', ruleId: '3', eventType: 'ZONE_ENTER' })).toBe('/alert-events?limit=200&rule_id=3&event_type=ZONE_ENTER');
  });

  it('adds a new event on top and replaces an updated one in place', () => {
    let list = upsertEvent([], event(1), NO_FILTER);
    list = upsertEvent(list, event(2), NO_FILTER);
    expect(list.map((e) => e.id)).toEqual([2, 1]);
    list = upsertEvent(list, event(1, { status: 'acknowledged' }), NO_FILTER);
    expect(list.map((e) => [e.id, e.status])).toEqual([[2, 'open'], [1, 'acknowledged']]);
  });

  it('drops an event that leaves the status filter', () => {
    const open = { ...NO_FILTER, status: 'open' as const };
    const list = upsertEvent([event(1), event(2)], event(1, { status: 'resolved' }), open);
    expect(list.map((e) => e.id)).toEqual([2]);
    expect(upsertEvent(list, event(3, { rule_id: 8 }), { ...NO_FILTER, ruleId: '1' })).toHaveLength(1);
    // The live map's list: an event leaves it when its session ends.
    const live = { ...NO_FILTER, liveOnly: true };
    expect(eventsPath(live)).toBe('/alert-events?limit=200&is_open=true');
    expect(upsertEvent([event(1), event(2)], event(2, { is_open: false }), live).map((e) => e.id)).toEqual([1]);
  });

  it('shows on the map what is going on and not resolved, with its zone', () => {
    expect(isLive(event(1))).toBe(true);
    expect(isLive(event(1, { status: 'resolved' }))).toBe(false);
    expect(isLive(event(1, { is_open: false }))).toBe(false);
    expect(zoneOf(event(1, { payload: '{"zone_id": 4, "zone_name": "Lab"}' }))).toEqual({ id: 4, name: 'Lab' });
    expect(zoneOf(event(1, { payload: '{"gateway": 1}' }))).toBeNull();
    expect(zoneOf(event(1, { payload: 'not json' }))).toBeNull();
  });
});
