import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import type { AlertEvent, AlertEventNotice, Id, StreamEnvelope } from '../api/types';
import { openStream, type StreamState } from '../map/stream';
import { eventsPath, matches, upsertEvent, type EventFilter } from './alerts';

export const ALERT_STREAM_TYPES = ['ALERT_OPENED', 'ALERT_UPDATED', 'ALERT_CLOSED'];

/** The alert event a stream event is about, or null for another type. */
export function alertNoticeId(type: string, envelope: StreamEnvelope<unknown>): Id | null {
  if (!ALERT_STREAM_TYPES.includes(type)) return null;
  const id = (envelope.payload as AlertEventNotice | null)?.alert_event_id;
  return typeof id === 'number' ? id : null;
}

export interface LiveAlerts {
  events: AlertEvent[] | null;
  error: string;
  reload: () => Promise<void>;
  /** Fetches one event named by the stream and puts it in (or out of) the list. */
  refresh: (id: Id) => Promise<void>;
  /** An event changed here (acknowledged, resolved). */
  put: (event: AlertEvent) => void;
  streamState: StreamState;
}

/**
 * The alert events of a filter, kept current by the live stream: each ALERT_* event fetches
 * that one row again. With `ownStream` false the caller feeds `refresh` from its own stream
 * (a page holds one stream, the appliance counts them per user).
 */
export function useLiveAlerts(filter: EventFilter, ownStream = true): LiveAlerts {
  const [events, setEvents] = useState<AlertEvent[] | null>(null);
  const [error, setError] = useState('');
  const [streamState, setStreamState] = useState<StreamState>('connecting');
  const path = eventsPath(filter);
  const { status, liveOnly } = filter;

  const reload = useCallback(async () => {
    try {
      const rows = await api.get<AlertEvent[]>(path);
      setEvents(rows.filter((e) => matches(e, { ...filter })));
      setError('');
    } catch (e) {
      setError(messageOf(e));
    }
    // The path carries the rule and type; status and liveOnly are checked here.
  }, [path, status, liveOnly]);

  const put = useCallback((event: AlertEvent) => setEvents((list) => upsertEvent(list ?? [], event, filter)), [path, status, liveOnly]);

  const refresh = useCallback(
    async (id: Id) => {
      try {
        put(await api.get<AlertEvent>(`/alert-events/${id}`));
      } catch {
        // Deleted meanwhile, or the stream was faster than the row: the next reload tells.
      }
    },
    [put],
  );

  useEffect(() => {
    void reload();
    if (!ownStream) return;
    return openStream(ALERT_STREAM_TYPES, {
      onState: setStreamState,
      onResync: () => void reload(),
      onEvent: (type, envelope) => {
        const id = alertNoticeId(type, envelope);
        if (id !== null) void refresh(id);
      },
    });
  }, [reload, refresh, ownStream]);

  return { events, error, reload, refresh, put, streamState };
}
