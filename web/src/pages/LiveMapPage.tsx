import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { api, listPath } from '../api/client';
import type { CurrentLocation, Device, DeviceStatus, FloorPlan, GatewayStatusPayload, Id, Person, Tag, TagPosition, Zone } from '../api/types';
import { NO_FILTER, zoneOf, type EventFilter } from '../alerts/alerts';
import { ALERT_STREAM_TYPES, alertNoticeId, useLiveAlerts } from '../alerts/useLiveAlerts';
import { HomeSummary } from '../incidents/HomeSummary';
import { DEFAULT_ZONE_COLOR, svgPoints } from '../zones/zoneGeometry';
import { Page } from '../components/Page';
import { PlanPicker } from '../components/PlanPicker';
import { useI18n } from '../i18n/i18n';
import { HeatmapCells, HeatmapControls, HeatmapLegend } from '../map/Heatmap';
import type { Heatmap } from '../map/history';
import { MarkerLayer, type MarkerLabels } from '../map/MarkerLayer';
import { PlanImage } from '../map/PlanImage';
import { fractionToView, viewSize } from '../map/planGeometry';
import { PositionStore } from '../map/positionStore';
import { ReplayControls } from '../map/ReplayControls';
import { StreamBadge } from '../map/StreamBadge';
import { openStream, type StreamState } from '../map/stream';
import { useReplay } from '../map/useReplay';

const ZONE_TYPES = ['ZONE_CREATED', 'ZONE_UPDATED', 'ZONE_DELETED'];
const STREAM_TYPES = ['POSITION_CHANGED', 'GATEWAY_OFFLINE', 'GATEWAY_ONLINE', ...ALERT_STREAM_TYPES, ...ZONE_TYPES];
const LIVE_ALERTS: EventFilter = { ...NO_FILTER, liveOnly: true };
/** The people list beside the map is refreshed at most this often; the markers every frame. */
const LIST_REFRESH_MS = 1000;
/** The list shows this many names at most (rendering 500 rows every second costs frames). */
const LIST_LIMIT = 50;

interface Directory {
  tags: Map<Id, Tag>;
  people: Map<Id, Person>;
}

export function LiveMapPage() {
  const { t, ago, language } = useI18n();
  const [plan, setPlan] = useState<FloorPlan | null>(null);
  const [devices, setDevices] = useState<Device[]>([]);
  const [online, setOnline] = useState<Map<Id, boolean>>(new Map());
  const [streamState, setStreamState] = useState<StreamState>('connecting');
  const [imageSize, setImageSize] = useState<{ w: number; h: number } | null>(null);
  const [selected, setSelected] = useState<Id | null>(null);
  const [listVersion, setListVersion] = useState(0);
  const [search, setSearch] = useState('');
  const [zones, setZones] = useState<Zone[]>([]);
  const [zonesVersion, setZonesVersion] = useState(0);
  // Replay shows a window of history instead of the live markers; the stream keeps running.
  const [mode, setMode] = useState<'live' | 'replay'>('live');
  const [heatmapShown, setHeatmapShown] = useState(false);
  const [heatmap, setHeatmap] = useState<Heatmap | null>(null);
  // Open alerts come with this page's stream (one stream per page).
  const alerts = useLiveAlerts(LIVE_ALERTS, false);
  const alertsRef = useRef(alerts);
  alertsRef.current = alerts;

  const directory = useRef<Directory>({ tags: new Map(), people: new Map() });
  const gateways = useRef(new Map<Id, { planId: Id; x: number; y: number }>());
  const store = useRef(new PositionStore((id) => gateways.current.get(id) ?? null)).current;
  const layer = useRef<MarkerLayer | null>(null);
  const markersGroup = useRef<SVGGElement>(null);
  const trailLine = useRef<SVGPolylineElement>(null);

  const nameOf = useCallback((tagId: Id) => {
    const tag = directory.current.tags.get(tagId);
    const person = tag?.person_id ? directory.current.people.get(tag.person_id) : undefined;
    return person?.full_name ?? tag?.label ?? tag?.mac_address ?? `#${tagId}`;
  }, []);

  const loadDirectory = useCallback(async () => {
    const [tags, people, allGateways] = await Promise.all([
      api.get<Tag[]>(listPath('/tags')),
      api.get<Person[]>(listPath('/people')),
      api.get<Device[]>(listPath('/devices', { type: 'BLE_GATEWAY' })),
    ]);
    directory.current = { tags: new Map(tags.map((t) => [t.id, t])), people: new Map(people.map((p) => [p.id, p])) };
    gateways.current = new Map(
      allGateways
        .filter((g) => g.floor_plan_id !== null && g.pos_x !== null && g.pos_y !== null)
        .map((g) => [g.id, { planId: g.floor_plan_id!, x: g.pos_x!, y: g.pos_y! }]),
    );
    layer.current?.relabel();
  }, []);

  const loadPositions = useCallback(async () => {
    store.seed(await api.get<CurrentLocation[]>('/positions/current'));
  }, [store]);

  // Names, then the positions known now, then live updates.
  useEffect(() => {
    let reloadingNames = false;
    let close = () => {};
    (async () => {
      await loadDirectory();
      await loadPositions();
      close = openStream(STREAM_TYPES, {
        onState: setStreamState,
        onResync: () => {
          void loadPositions();
          void alertsRef.current.reload();
        },
        onEvent: (type, envelope) => {
          const alertId = alertNoticeId(type, envelope);
          if (alertId !== null) {
            void alertsRef.current.refresh(alertId);
          } else if (ZONE_TYPES.includes(type)) {
            setZonesVersion((v) => v + 1);
          } else if (type === 'POSITION_CHANGED') {
            const position = envelope.payload as TagPosition;
            store.apply(position);
            // A tag registered after the page loaded: fetch the names again, once.
            if (!directory.current.tags.has(position.tag_id) && !reloadingNames) {
              reloadingNames = true;
              void loadDirectory().finally(() => (reloadingNames = false));
            }
          } else {
            const status = envelope.payload as GatewayStatusPayload;
            setOnline((current) => new Map(current).set(status.device_id, type === 'GATEWAY_ONLINE'));
          }
        },
      });
    })().catch(() => {});
    return () => close();
  }, [loadDirectory, loadPositions, store]);

  // One animation frame applies every change that arrived since the previous one.
  useEffect(() => {
    let frame = 0;
    const tick = () => {
      const changed = store.takeChanges();
      if (changed.length > 0) layer.current?.update(changed);
      frame = requestAnimationFrame(tick);
    };
    frame = requestAnimationFrame(tick);
    // The list also shows "seen N s ago", so it follows the store on a clock of its own.
    const timer = setInterval(() => setListVersion((v) => v + 1), LIST_REFRESH_MS);
    return () => {
      cancelAnimationFrame(frame);
      clearInterval(timer);
    };
  }, [store]);

  // The plan's devices and their state.
  useEffect(() => {
    setImageSize(null);
    setSelected(null);
    if (!plan) return;
    Promise.all([api.get<Device[]>(`/floor-plans/${plan.id}/devices`), api.get<DeviceStatus[]>('/devices/status')])
      .then(([planDevices, statuses]) => {
        setDevices(planDevices);
        setOnline(new Map(statuses.map((s) => [s.id, s.is_online])));
      })
      .catch(() => {});
  }, [plan]);

  // The plan's zones, for outlining those with open alerts; drawn anew when one changes.
  useEffect(() => {
    setZones([]);
    if (plan) api.get<Zone[]>(`/floor-plans/${plan.id}/zones`).then(setZones, () => {});
  }, [plan, zonesVersion]);

  const view = useMemo(() => viewSize(imageSize?.w ?? plan?.width, imageSize?.h ?? plan?.height), [imageSize, plan]);
  const labels = useMemo<MarkerLabels>(() => {
    const timeFormat = new Intl.DateTimeFormat(language === 'pt' ? 'pt-BR' : 'en', { timeStyle: 'medium' });
    return {
      name: nameOf,
      title: (tagId, lastSeenAt) => `${nameOf(tagId)} · ${t('map.lastSeen')} ${timeFormat.format(new Date(lastSeenAt))}`,
    };
  }, [nameOf, language, t]);
  const replay = useReplay(plan, view, mode === 'replay', labels);

  // The marker layer lives as long as the plan and its drawing size.
  useEffect(() => {
    if (!plan || !markersGroup.current || !trailLine.current) return;
    layer.current = new MarkerLayer(markersGroup.current, trailLine.current, store, plan, view, labels);
    return () => {
      layer.current?.dispose();
      layer.current = null;
    };
  }, [plan, view, store, labels]);

  useEffect(() => {
    layer.current?.select(selected);
  }, [selected, plan, view]);
  // The replay's layer is made anew with the plan, the view, the labels or a new replay.
  useEffect(() => {
    replay.select(selected);
  }, [selected, plan, view, labels, mode, replay.loaded]);

  // The people and zones of open alerts, highlighted on the plan.
  const liveAlerts = alerts.events ?? [];
  const alertingTags = useMemo(() => new Set(liveAlerts.flatMap((a) => (a.tag_id === null ? [] : [a.tag_id]))), [alerts.events]);
  const alertZoneIds = new Set(liveAlerts.flatMap((a) => (a.floor_plan_id === plan?.id ? [zoneOf(a)?.id ?? -1] : [])));
  useEffect(() => {
    layer.current?.highlight(alertingTags);
  }, [alertingTags, plan, view]);

  const onMapClick = (event: React.MouseEvent) => {
    const marker = (event.target as Element).closest('[data-tag-id]') as SVGGElement | null;
    if (marker) setSelected(Number(marker.dataset.tagId));
  };

  const peopleHere = useMemo(
    () =>
      [...store.markers.values()]
        .filter((m) => m.planId === plan?.id)
        .map((m) => ({ ...m, name: nameOf(m.tagId) }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    // listVersion is the clock that makes this list follow the store.
    [listVersion, plan, store, nameOf],
  );
  const needle = search.trim().toLocaleLowerCase();
  const matches = needle ? peopleHere.filter((m) => m.name.toLocaleLowerCase().includes(needle)) : peopleHere;
  const selectedMarker = selected === null || mode === 'replay' ? undefined : store.markers.get(selected);
  const replayed = useMemo(() => (replay.loaded?.source.tracks ?? []).filter((track) => track.points.some((p) => p.planId === plan?.id)), [replay.loaded, plan]);
  // The people a replay can follow: those with a tag (the names follow the list's clock).
  const replayPeople = useMemo(() => {
    const tagged = new Set([...directory.current.tags.values()].map((tag) => tag.person_id));
    return [...directory.current.people.values()]
      .filter((p) => tagged.has(p.id))
      .map((p) => ({ id: p.id, name: p.full_name }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }, [listVersion]);
  const selectedTag = selected === null ? undefined : directory.current.tags.get(selected);

  return (
    <Page
      title={t('nav.liveMap')}
      className="live-map"
      tools={
        <>
          <PlanPicker idPrefix="map" onPlan={setPlan} />
          <StreamBadge state={streamState} />
        </>
      }
    >
      <HomeSummary />
      {liveAlerts.length > 0 && (
        <p className="notice alert-banner" role="status">
          {t('map.openAlerts', { n: liveAlerts.length })} <Link to="/alerts">{t('map.seeAlerts')}</Link>
        </p>
      )}
      {!plan ? (
        <p className="card muted">{t('map.noPlan')}</p>
      ) : (
        <>
          <section className="card map-tools" aria-label={t('map.tools')}>
            <div className="filters">
              <fieldset className="map-mode">
                <legend>{t('map.mode')}</legend>
                {(['live', 'replay'] as const).map((m) => (
                  <label key={m}>
                    <input type="radio" name="map-mode" value={m} checked={mode === m} onChange={() => setMode(m)} /> {t(m === 'live' ? 'map.mode.live' : 'map.mode.replay')}
                  </label>
                ))}
              </fieldset>
              <label className="map-heatmap-toggle">
                <input type="checkbox" checked={heatmapShown} onChange={(e) => setHeatmapShown(e.target.checked)} /> {t('heatmap.toggle')}
              </label>
            </div>
            {mode === 'replay' && <ReplayControls replay={replay} planId={plan.id} people={replayPeople} />}
            {heatmapShown && <HeatmapControls plan={plan} onHeatmap={setHeatmap} />}
          </section>
          <div className="map-layout">
            <div className="map-main">
              <div className="plan-frame">
                <PlanImage plan={plan} view={view} onSize={setImageSize} />
                <svg
                  className={mode === 'replay' ? 'plan-overlay replaying' : 'plan-overlay'}
                  viewBox={`0 0 ${view.width} ${view.height}`}
                  preserveAspectRatio="none"
                  onClick={onMapClick}
                  data-testid="live-map"
                >
                  {heatmapShown && heatmap && heatmap.floor_plan_id === plan.id && <HeatmapCells heatmap={heatmap} view={view} />}
                  {zones
                    .filter((z) => alertZoneIds.has(z.id))
                    .map((z) => (
                      <polygon key={z.id} className="alert-zone" points={svgPoints(z.points, view)} style={{ color: z.color ?? DEFAULT_ZONE_COLOR }} data-zone-id={z.id}>
                        <title>{z.name}</title>
                      </polygon>
                    ))}
                  <polyline ref={trailLine} className="trail live-layer" />
                  {devices
                    .filter((d) => d.pos_x !== null && d.pos_y !== null)
                    .map((d) => {
                      const at = fractionToView({ x: d.pos_x!, y: d.pos_y! }, view);
                      const isGateway = d.type === 'BLE_GATEWAY';
                      const state = online.get(d.id) ? 'online' : 'offline';
                      return (
                        <g key={d.id} className={`device-pin ${isGateway ? 'gateway' : 'camera'} ${state}`} transform={`translate(${at.x} ${at.y})`} data-device-id={d.id}>
                          {isGateway ? <circle r="11" /> : <rect x="-10" y="-10" width="20" height="20" rx="3" />}
                          <text y="26" textAnchor="middle">
                            {d.name}
                          </text>
                          <title>{`${d.name} · ${t(state === 'online' ? 'devices.online' : 'devices.offline')}`}</title>
                        </g>
                      );
                    })}
                  <g ref={markersGroup} className="live-layer" />
                  <g className="replay-layer">
                    <g ref={replay.trailsGroup} className="replay-trails" />
                    <polyline ref={replay.trailLine} className="trail" />
                    <g ref={replay.markersGroup} />
                  </g>
                </svg>
              </div>
              {heatmapShown && heatmap && heatmap.floor_plan_id === plan.id && <HeatmapLegend heatmap={heatmap} zones={zones} />}
            </div>
            {mode === 'replay' ? (
              <aside className="card map-side" aria-labelledby="people-replayed">
                <h2 id="people-replayed">{t('replay.people', { n: replayed.length })}</h2>
                <ul className="people-list">
                  {replayed.map((track) => (
                    <li key={track.tagId}>
                      <button type="button" className={track.tagId === selected ? 'link selected' : 'link'} aria-pressed={track.tagId === selected} onClick={() => setSelected(track.tagId)}>
                        {track.name}
                      </button>
                    </li>
                  ))}
                </ul>
              </aside>
            ) : (
              <aside className="card map-side" aria-labelledby="people-here">
                <h2 id="people-here">{t('map.peopleHere', { n: peopleHere.length })}</h2>
                {selectedMarker && (
                  <section className="selected-person" aria-live="polite">
                    <h3>{nameOf(selectedMarker.tagId)}</h3>
                    <dl>
                      <dt>{t('tags.mac')}</dt>
                      <dd>{selectedTag?.mac_address ?? '—'}</dd>
                      <dt>{t('map.lastSeen')}</dt>
                      <dd>{ago(selectedMarker.lastSeenAt)}</dd>
                      <dt>{t('map.accuracy')}</dt>
                      <dd>{selectedMarker.accuracyM === null ? '—' : `± ${selectedMarker.accuracyM.toFixed(1)} m`}</dd>
                      <dt>{t('map.trail')}</dt>
                      <dd>{t('map.trailPoints', { n: store.trail(selectedMarker.tagId, selectedMarker.planId).length })}</dd>
                    </dl>
                    <button type="button" onClick={() => setSelected(null)}>
                      {t('map.clearSelection')}
                    </button>
                  </section>
                )}
                <label htmlFor="map-search">{t('map.search')}</label>
                <input id="map-search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
                {matches.length === 0 ? (
                  <p className="muted">{t('map.nobody')}</p>
                ) : (
                  <ul className="people-list">
                    {matches.slice(0, LIST_LIMIT).map((m) => (
                      <li key={m.tagId}>
                        <button type="button" className={m.tagId === selected ? 'link selected' : 'link'} aria-pressed={m.tagId === selected} onClick={() => setSelected(m.tagId)}>
                          {m.name}
                        </button>
                        <span className="muted"> {ago(m.lastSeenAt)}</span>
                      </li>
                    ))}
                    {matches.length > LIST_LIMIT && <li className="muted">{t('map.more', { n: matches.length - LIST_LIMIT })}</li>}
                  </ul>
                )}
              </aside>
            )}
          </div>
        </>
      )}
    </Page>
  );
}
