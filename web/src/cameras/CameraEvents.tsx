import { useEffect, useMemo, useState } from 'react';
import { useNavigate } from 'react-router';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import type { CameraEvent, CameraEventNotice, Device, Id, Incident, NearbyPerson } from '../api/types';
import { Card } from '../components/Card';
import { DataTable } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { JsonDetails } from '../components/JsonDetails';
import { useI18n } from '../i18n/i18n';
import { openStream, type StreamState } from '../map/stream';
import { StreamBadge } from '../map/StreamBadge';
import {
  analyticTypes,
  aroundPath,
  EVENT_LIMIT,
  eventsPath,
  fromApi,
  fromNotice,
  matchesFilter,
  mergeEvents,
  NO_FILTER,
  snapshotUrl,
  type EventFilter,
  type ListedEvent,
} from './events';

/** "How long ago" is redrawn this often. */
const CLOCK_MS = 10_000;

/** A camera's events, newest first, filtered by analytic type and time, with new ones arriving live. */
export function CameraEvents({ camera, personName }: { camera: Device; personName: (id: Id) => string }) {
  const { t, ago, language } = useI18n();
  const [draft, setDraft] = useState<EventFilter>(NO_FILTER);
  const [filter, setFilter] = useState<EventFilter>(NO_FILTER);
  const [events, setEvents] = useState<ListedEvent[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState('');
  const [streamState, setStreamState] = useState<StreamState>('connecting');
  const [, setClock] = useState(0);
  const navigate = useNavigate();

  // The stream opens with the list's request, so an event recorded while the list loads
  // is merged in either way; after a break the list is asked for again.
  useEffect(() => {
    let current = true;
    setEvents([]);
    setLoaded(false);
    setError('');
    const load = () =>
      api.get<CameraEvent[]>(eventsPath(camera.id, filter)).then(
        (list) => {
          if (!current) return;
          setEvents((shown) => mergeEvents(shown, list.map(fromApi)));
          setLoaded(true);
          setError('');
        },
        (e) => current && setError(messageOf(e)),
      );
    const close = openStream(['CAMERA_EVENT'], {
      onState: setStreamState,
      onResync: () => void load(),
      onEvent: (_, envelope) => {
        const notice = envelope.payload as CameraEventNotice;
        if (notice.device_id !== camera.id || !matchesFilter(notice, filter)) return;
        setEvents((shown) => mergeEvents(shown, [fromNotice(notice)]));
      },
    });
    void load();
    return () => {
      current = false;
      close();
    };
  }, [camera.id, filter]);

  useEffect(() => {
    const timer = setInterval(() => setClock((c) => c + 1), CLOCK_MS);
    return () => clearInterval(timer);
  }, []);

  /** A live event's topic and payload, fetched when its details are opened. */
  async function loadPayload(event: ListedEvent) {
    try {
      const full = (await api.get<CameraEvent[]>(aroundPath(camera.id, event.occurred_at))).find((e) => e.id === event.id);
      if (full) setEvents((shown) => (shown.some((e) => e.id === full.id) ? mergeEvents(shown, [fromApi(full)]) : shown));
    } catch (e) {
      setError(messageOf(e));
    }
  }

  /** Opens the event's incident (the appliance returns the existing one if there is one). */
  async function openIncident(event: ListedEvent) {
    try {
      const incident = await api.post<Incident>(`/incidents/from-device-event/${event.id}`, { device_event_id: event.id });
      navigate(`/incidents/${incident.id}`);
    } catch (e) {
      setError(messageOf(e));
    }
  }

  const locale = language === 'pt' ? 'pt-BR' : 'en';
  const metres = useMemo(() => new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }), [locale]);
  const types = useMemo(() => analyticTypes(events, camera.analytics), [events, camera.analytics]);

  const nearby = (p: NearbyPerson) => {
    if (p.distance_m !== null) return `${metres.format(p.distance_m)} m`;
    return p.via === 'gateway' ? t('camera.viaGateway') : '';
  };

  const when = (event: ListedEvent) => {
    const relative = ago(event.occurred_at);
    const absolute = new Date(event.occurred_at).toLocaleString(locale);
    return (
      <>
        <time dateTime={event.occurred_at}>{relative}</time>
        {/* Older than a day, "how long ago" is already the date. */}
        {relative !== absolute && <small className="muted block">{absolute}</small>}
      </>
    );
  };
  const nearbyPeople = (event: ListedEvent) =>
    event.nearby_people.length === 0 ? (
      '—'
    ) : (
      <ul className="nearby-people">
        {event.nearby_people.map((p) => (
          <li key={p.person_id}>
            {p.full_name} <span className="muted">{nearby(p)}</span>
          </li>
        ))}
      </ul>
    );
  const details = (event: ListedEvent) => {
    const snapshot = snapshotUrl(event.payload);
    return (
      <>
        {snapshot && (
          // rel: the snapshot is on the camera network; it gets no referrer or opener.
          <a href={snapshot} target="_blank" rel="noopener noreferrer" className="block">
            {t('camera.snapshot')}
          </a>
        )}
        <JsonDetails summary={t('camera.payload')} value={event.payload ?? undefined} onOpen={event.payload === null ? () => void loadPayload(event) : undefined} />
      </>
    );
  };

  return (
    <Card id="events" title={t('camera.events')} tools={<StreamBadge state={streamState} />}>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(draft);
        }}
      >
        <div className="field">
          <label htmlFor="events-type">{t('camera.analytic')}</label>
          <input id="events-type" list="events-types" value={draft.analyticType} onChange={(e) => setDraft({ ...draft, analyticType: e.target.value })} />
          <datalist id="events-types">
            {types.map((type) => (
              <option key={type} value={type} />
            ))}
          </datalist>
        </div>
        <div className="field">
          <label htmlFor="events-since">{t('camera.since')}</label>
          <input id="events-since" type="datetime-local" value={draft.since} onChange={(e) => setDraft({ ...draft, since: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="events-until">{t('camera.until')}</label>
          <input id="events-until" type="datetime-local" value={draft.until} onChange={(e) => setDraft({ ...draft, until: e.target.value })} />
        </div>
        <div className="form-actions">
          <button type="submit" className="primary">
            {t('camera.filter')}
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(NO_FILTER);
              setFilter(NO_FILTER);
            }}
          >
            {t('camera.clearFilter')}
          </button>
        </div>
      </form>
      <p className="muted">{t('camera.newestFirst', { n: EVENT_LIMIT })}</p>
      <ErrorAlert message={error} />
      <DataTable
        className="events-table"
        // A live event can arrive before the list: shown at once, without waiting for it.
        rows={events.length === 0 && !loaded ? null : events}
        rowKey={(event) => event.id}
        rowProps={(event) => ({ 'data-event-id': event.id })}
        empty={t('camera.noEvents')}
        columns={[
          { header: t('camera.when'), cell: when },
          { header: t('camera.analytic'), cell: (event) => <code>{event.analytic_type}</code> },
          { header: t('camera.recognised'), cell: (event) => (event.person_id === null ? '—' : personName(event.person_id)) },
          { header: t('camera.nearby'), cell: nearbyPeople },
          { header: t('camera.details'), cell: details },
        ]}
        actions={(event) => (
          <button type="button" onClick={() => void openIncident(event)} aria-label={`${t('camera.openIncident')} #${event.id}`}>
            {t('camera.openIncident')}
          </button>
        )}
      />
    </Card>
  );
}
