import { describe, expect, it } from 'vitest';
import { alertNoticeId } from '../alerts/useLiveAlerts';
import { incidentIdOf } from './useIncidentStream';

const envelope = (payload: unknown) => ({ event_type: '', timestamp: '', user_id: null, payload });

describe('stream notices', () => {
  it('names the incident of an incident or message event', () => {
    expect(incidentIdOf('INCIDENT_STATUS_CHANGED', { incident_id: 4, status: 'RESOLVED' })).toBe(4);
    expect(incidentIdOf('INCIDENT_MESSAGE_CREATED', { incident_id: 4, message_id: 9 })).toBe(4);
    // A message event's own id is not its incident's.
    expect(incidentIdOf('INCIDENT_MESSAGE_CREATED', { id: 9 })).toBeNull();
    expect(incidentIdOf('INCIDENT_CREATED', { id: 5 })).toBe(5);
    expect(incidentIdOf('INCIDENT_CREATED', null)).toBeNull();
  });

  it('names the alert event of an ALERT_* event only', () => {
    expect(alertNoticeId('ALERT_OPENED', envelope({ alert_event_id: 7 }))).toBe(7);
    expect(alertNoticeId('ALERT_CLOSED', envelope({ alert_event_id: 7 }))).toBe(7);
    expect(alertNoticeId('POSITION_CHANGED', envelope({ alert_event_id: 7 }))).toBeNull();
    expect(alertNoticeId('ALERT_UPDATED', envelope({}))).toBeNull();
  });
});
