import { useEffect, useRef, useState } from 'react';
import type { Id } from '../api/types';
import { openStream, type StreamState } from '../map/stream';
import type { IncidentNotice } from './IncidentDetail';

export const INCIDENT_STREAM_TYPES = [
  'INCIDENT_CREATED',
  'INCIDENT_UPDATED',
  'INCIDENT_STATUS_CHANGED',
  'INCIDENT_REOPENED',
  'INCIDENT_ASSIGNED',
  'INCIDENT_MESSAGE_CREATED',
];

/** The incident a stream event is about (its payload's `incident_id`, or an incident's `id`). */
export function incidentIdOf(type: string, payload: unknown): Id | null {
  const p = (payload ?? {}) as { incident_id?: unknown; id?: unknown };
  if (typeof p.incident_id === 'number') return p.incident_id;
  return type !== 'INCIDENT_MESSAGE_CREATED' && typeof p.id === 'number' ? p.id : null;
}

/**
 * One stream for a page's incident views: the latest notice (numbered) and the stream's
 * state; `onResync` runs after a break, when events may have been missed.
 */
export function useIncidentStream(onResync: () => void): { notice: IncidentNotice | null; state: StreamState } {
  const [notice, setNotice] = useState<IncidentNotice | null>(null);
  const [state, setState] = useState<StreamState>('connecting');
  const resync = useRef(onResync);
  resync.current = onResync;
  useEffect(() => {
    let seq = 0;
    return openStream(INCIDENT_STREAM_TYPES, {
      onState: setState,
      onResync: () => resync.current(),
      onEvent: (type, envelope) => setNotice({ seq: ++seq, type, incidentId: incidentIdOf(type, envelope.payload) }),
    });
  }, []);
  return { notice, state };
}
