import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import type { FloorPlan, Id, Zone } from '../api/types';
import { ErrorAlert } from '../components/ErrorAlert';
import { useI18n } from '../i18n/i18n';
import { PlanImage } from '../map/PlanImage';
import { clientToFraction, fractionToView, nudge, viewSize, type Point } from '../map/planGeometry';
import { DEFAULT_ZONE_COLOR, centroid, movePoint, removePoint, svgPoints, zoneProblem } from './zoneGeometry';

type Mode = { kind: 'idle' } | { kind: 'drawing'; points: Point[] };

/**
 * Zones of one plan: "new zone" starts a polygon, each click on the plan adds a corner,
 * "finish" saves it; a selected zone's corners are dragged (or moved with the arrow keys
 * when focused) and every drop saves, as devices do in the plan editor. Operators see the
 * zones without the tools (writes are for administrators).
 */
export function ZoneEditor({ plan, canEdit, onChanged }: { plan: FloorPlan; canEdit: boolean; onChanged: () => void }) {
  const { t } = useI18n();
  const [zones, setZones] = useState<Zone[]>([]);
  const [selectedId, setSelectedId] = useState<Id | null>(null);
  const [mode, setMode] = useState<Mode>({ kind: 'idle' });
  const [drag, setDrag] = useState<{ index: number; points: Point[] } | null>(null);
  const [corner, setCorner] = useState<number | null>(null);
  const [name, setName] = useState('');
  const [color, setColor] = useState(DEFAULT_ZONE_COLOR);
  const [error, setError] = useState('');
  const [imageSize, setImageSize] = useState<{ w: number; h: number } | null>(null);
  const svg = useRef<SVGSVGElement>(null);
  const view = useMemo(() => viewSize(imageSize?.w ?? plan.width, imageSize?.h ?? plan.height), [imageSize, plan]);
  const selected = zones.find((z) => z.id === selectedId) ?? null;

  useEffect(() => {
    setSelectedId(null);
    setMode({ kind: 'idle' });
    api.get<Zone[]>(`/floor-plans/${plan.id}/zones`).then(setZones, (e: unknown) => setError(messageOf(e)));
  }, [plan.id]);

  useEffect(() => {
    setName(selected?.name ?? '');
    setColor(selected?.color ?? DEFAULT_ZONE_COLOR);
    setCorner(null);
  }, [selected?.id]);

  /** Runs a write; the zone list and the caller follow its answer. */
  async function write(action: () => Promise<Zone | null>, removedId?: Id) {
    try {
      const saved = await action();
      setZones((all) => (saved ? [...all.filter((z) => z.id !== saved.id), saved].sort((a, b) => a.id - b.id) : all.filter((z) => z.id !== removedId)));
      if (saved) setSelectedId(saved.id);
      setError('');
      onChanged();
      return true;
    } catch (e) {
      setError(messageOf(e));
      return false;
    }
  }

  const pointAt = (clientX: number, clientY: number) => {
    const rect = svg.current?.getBoundingClientRect();
    return rect ? clientToFraction(rect, clientX, clientY) : null;
  };

  function onPlanClick(event: React.MouseEvent) {
    if (mode.kind !== 'drawing') return;
    const point = pointAt(event.clientX, event.clientY);
    if (point) setMode({ kind: 'drawing', points: [...mode.points, point] });
  }

  async function finish() {
    if (mode.kind !== 'drawing') return;
    const problem = zoneProblem(mode.points);
    if (problem) return setError(t(`zones.problem.${problem}`));
    const body = { name: name.trim() || t('zones.defaultName', { n: zones.length + 1 }), color, points: mode.points };
    if (await write(() => api.post<Zone>(`/floor-plans/${plan.id}/zones`, body))) setMode({ kind: 'idle' });
  }

  function savePoints(zone: Zone, points: Point[]) {
    const problem = zoneProblem(points);
    if (problem) return setError(t(`zones.problem.${problem}`));
    void write(() => api.patch<Zone>(`/zones/${zone.id}`, { points }));
  }

  function startDrag(zone: Zone, index: number, event: React.PointerEvent) {
    if (!canEdit || event.button !== 0) return;
    event.preventDefault();
    event.stopPropagation();
    setCorner(index);
    let points = zone.points;
    const move = (e: PointerEvent) => {
      const at = pointAt(e.clientX, e.clientY);
      if (at) {
        points = movePoint(zone.points, index, at);
        setDrag({ index, points });
      }
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      setDrag(null);
      if (points !== zone.points) savePoints(zone, points);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  const drawn = (zone: Zone) => (drag && zone.id === selectedId ? drag.points : zone.points);
  const draft = mode.kind === 'drawing' ? mode.points : null;

  return (
    <div className="editor-layout">
      <div className="plan-frame">
        <PlanImage plan={plan} view={view} onSize={setImageSize} />
        <svg ref={svg} className={`plan-overlay zone-editor${draft ? ' drawing' : ''}`} viewBox={`0 0 ${view.width} ${view.height}`} preserveAspectRatio="none" onClick={onPlanClick} data-testid="zone-editor">
          {zones.map((zone) => {
            const points = drawn(zone);
            const label = fractionToView(centroid(points), view);
            return (
              <g key={zone.id} className={`zone${zone.id === selectedId ? ' selected' : ''}`} data-zone-id={zone.id} style={{ color: zone.color ?? DEFAULT_ZONE_COLOR }}>
                <polygon points={svgPoints(points, view)} onClick={() => !draft && setSelectedId(zone.id)} />
                <text x={label.x} y={label.y} textAnchor="middle">
                  {zone.name}
                </text>
              </g>
            );
          })}
          {selected &&
            canEdit &&
            !draft &&
            drawn(selected).map((p, i) => {
              const at = fractionToView(p, view);
              return (
                <circle
                  key={i}
                  className={`zone-corner${corner === i ? ' selected' : ''}`}
                  cx={at.x}
                  cy={at.y}
                  r="9"
                  tabIndex={0}
                  role="button"
                  aria-label={t('zones.corner', { n: i + 1, name: selected.name })}
                  data-corner={i}
                  onPointerDown={(e) => startDrag(selected, i, e)}
                  onFocus={() => setCorner(i)}
                  onKeyDown={(e) => {
                    const next = nudge(p, e.key, e.shiftKey);
                    if (next) {
                      e.preventDefault();
                      savePoints(selected, movePoint(selected.points, i, next));
                    }
                  }}
                />
              );
            })}
          {draft && (
            <g className="zone draft" style={{ color }}>
              <polyline points={svgPoints(draft, view)} />
              {draft.map((p, i) => {
                const at = fractionToView(p, view);
                return <circle key={i} className="zone-corner" cx={at.x} cy={at.y} r="7" />;
              })}
            </g>
          )}
        </svg>
      </div>
      <div className="editor-lists">
        <ErrorAlert message={error} />
        {canEdit && (
          <div className="zone-tools">
            <div className="field">
              <label htmlFor="zone-name">{t('common.name')}</label>
              <input id="zone-name" value={name} onChange={(e) => setName(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="zone-color">{t('zones.color')}</label>
              <input id="zone-color" type="color" value={color} onChange={(e) => setColor(e.target.value)} />
            </div>
            {draft ? (
              <>
                <p className="muted" role="status">
                  {t('zones.drawingHelp', { n: draft.length })}
                </p>
                <div className="form-actions">
                  <button type="button" className="primary" onClick={finish} disabled={draft.length < 3}>
                    {t('zones.finish')}
                  </button>
                  <button type="button" onClick={() => setMode({ kind: 'drawing', points: draft.slice(0, -1) })} disabled={draft.length === 0}>
                    {t('zones.undoPoint')}
                  </button>
                  <button type="button" onClick={() => setMode({ kind: 'idle' })}>
                    {t('common.cancel')}
                  </button>
                </div>
              </>
            ) : (
              <div className="form-actions">
                <button
                  type="button"
                  className="primary"
                  onClick={() => {
                    setSelectedId(null);
                    setName('');
                    setMode({ kind: 'drawing', points: [] });
                  }}
                >
                  {t('zones.new')}
                </button>
                {selected && (
                  <>
                    <button type="button" onClick={() => void write(() => api.patch<Zone>(`/zones/${selected.id}`, { name: name.trim(), color }))}>
                      {t('zones.saveNameColor')}
                    </button>
                    <button type="button" onClick={() => corner !== null && savePoints(selected, removePoint(selected.points, corner))} disabled={corner === null || selected.points.length <= 3}>
                      {t('zones.removeCorner')}
                    </button>
                    <button
                      type="button"
                      className="danger"
                      onClick={() => window.confirm(t('common.confirmDelete', { name: selected.name })) && void write(() => api.delete(`/zones/${selected.id}`).then(() => null), selected.id)}
                    >
                      {t('common.delete')}
                    </button>
                  </>
                )}
              </div>
            )}
          </div>
        )}
        <h3>{t('zones.onThisPlan')}</h3>
        {zones.length === 0 ? (
          <p className="muted">{t('zones.none')}</p>
        ) : (
          <ul className="device-list">
            {zones.map((z) => (
              <li key={z.id}>
                <button type="button" className={z.id === selectedId ? 'link selected' : 'link'} aria-pressed={z.id === selectedId} onClick={() => setSelectedId(z.id)} disabled={!!draft}>
                  <span className="swatch" style={{ background: z.color ?? DEFAULT_ZONE_COLOR }} aria-hidden="true" /> {z.name}
                </button>
              </li>
            ))}
          </ul>
        )}
        {canEdit && <p className="muted">{t('zones.help')}</p>}
      </div>
    </div>
  );
}
