import { describe, expect, it } from 'vitest';
import type { Incident, IncidentMessage } from '../api/types';
import { ANY_ACTIVE, byUrgency, formatDuration, incidentsPath, isOverdue, matchesIncident, mergeMessages, messagesAfterPath, slaLeft } from './incidents';

const NOW = Date.parse('2026-01-01T12:00:00Z');

function incident(id: number, changes: Partial<Incident> = {}): Incident {
  return {
    id, device_id: 1, device_event_id: null, kind: 'CAMERA_EVENT', tenant: null, status: 'OPEN', severity: 'HIGH',
    title: `#${id}`, description: null, sla_minutes: 60, due_at: '2026-01-01T13:00:00Z', created_at: `2026-01-01T10:00:0${id}Z`,
    updated_at: '2026-01-01T10:00:00Z', closed_at: null, overdue: false, assigned_group: null, assigned_to_user_id: null, assignees: [], ...changes,
  };
}

function message(id: number): IncidentMessage {
  return { id, incident_id: 1, message_type: 'TEXT', content: `m${id}`, media_type: null, media_url: null, media_thumb_url: null, media_name: null, author_name: 'Ana', created_at: '2026-01-01T00:00:00Z' };
}

describe('SLA countdown', () => {
  it('counts down to the due time while the incident is active', () => {
    expect(slaLeft(incident(1), NOW)).toBe(3_600_000);
    expect(slaLeft(incident(1, { status: 'RESOLVED' }), NOW)).toBeNull();
    expect(slaLeft(incident(1, { due_at: null }), NOW)).toBeNull();
  });

  it('is overdue once the due time passed, or when the appliance says so, never once closed', () => {
    expect(isOverdue(incident(1), NOW)).toBe(false);
    expect(isOverdue(incident(1, { due_at: '2026-01-01T11:59:00Z' }), NOW)).toBe(true);
    expect(isOverdue(incident(1, { overdue: true }), NOW)).toBe(true);
    expect(isOverdue(incident(1, { due_at: '2026-01-01T11:00:00Z', status: 'CANCELED' }), NOW)).toBe(false);
  });

  it('formats the time left in its two largest units', () => {
    expect(formatDuration(3_900_000)).toBe('1 h 05 min');
    expect(formatDuration(249_000)).toBe('4 min 09 s');
    expect(formatDuration(-61_000)).toBe('1 min 01 s');
    expect(formatDuration(2 * 86_400_000 + 3 * 3_600_000)).toBe('2 d 3 h');
  });

  it('puts the overdue first, then the soonest due', () => {
    const rows = [incident(1), incident(2, { due_at: '2026-01-01T11:00:00Z' }), incident(3, { due_at: '2026-01-01T12:30:00Z' }), incident(4, { due_at: null })];
    expect(rows.sort(byUrgency(NOW)).map((i) => i.id)).toEqual([2, 3, 1, 4]);
  });
});

describe('filters', () => {
  const all = { scope: 'all' as const, status: '', severity: '', kind: '' };

  it('asks for my incidents or all, with the filters in the query', () => {
    expect(incidentsPath({ ...all, scope: 'mine' })).toBe('/incidents/my?limit=200');
    expect(incidentsPath({ ...all, status: ANY_ACTIVE })).toBe('/incidents?limit=200&only_open=true');
    expect(incidentsPath({ scope: 'all', status: 'RESOLVED', severity: 'LOW', kind: 'CAMERA_FACE' })).toBe('/incidents?limit=200&status=RESOLVED&severity=LOW&kind=CAMERA_FACE');
  });

  it('checks the rows too', () => {
    expect(matchesIncident(incident(1), { ...all, status: ANY_ACTIVE })).toBe(true);
    expect(matchesIncident(incident(1, { status: 'IN_PROGRESS' }), { ...all, status: ANY_ACTIVE })).toBe(true);
    expect(matchesIncident(incident(1, { status: 'RESOLVED' }), { ...all, status: ANY_ACTIVE })).toBe(false);
    expect(matchesIncident(incident(1), { ...all, severity: 'LOW' })).toBe(false);
    expect(matchesIncident(incident(1), { ...all, kind: 'CAMERA_EVENT', status: 'OPEN' })).toBe(true);
  });
});

describe('timeline', () => {
  it('adds new messages once each, in order, whether from the stream or a poll', () => {
    const merged = mergeMessages([message(1), message(3)], [message(3), message(2), message(4)]);
    expect(merged.map((m) => m.id)).toEqual([1, 2, 3, 4]);
    expect(messagesAfterPath(7, merged)).toBe('/incidents/7/messages?after_id=4&limit=200');
    expect(messagesAfterPath(7, [])).toBe('/incidents/7/messages?after_id=0&limit=200');
  });
});
