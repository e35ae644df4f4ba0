import type { FloorPlan } from '../api/types';
import { useNow } from '../components/useNow';
import { useI18n } from '../i18n/i18n';
import type { Point } from '../map/planGeometry';
import { elapsedSeconds, fromMetres, pointState, recordingPoint, toMetres, type ReadingCount, type StandingPoint } from './calibration';

interface Props {
  plan: FloorPlan;
  points: StandingPoint[];
  selectedId: number | null;
  /** Readings of the tag counted in each point's window (while recording and after). */
  counts: Map<number, ReadingCount>;
  /** How far the appliance's clock is ahead of this browser's, ms. */
  offset: number;
  onSelect: (id: number) => void;
  onStart: (id: number) => void;
  onStop: (id: number) => void;
  onDelete: (id: number) => void;
  onMove: (id: number, at: Point) => void;
}

/** The standing points in order: their state, window and readings, and their buttons. */
export function PointList({ plan, points, selectedId, counts, offset, onSelect, onStart, onStop, onDelete, onMove }: Props) {
  const { t } = useI18n();
  const now = useNow(1000) + offset;
  const busy = recordingPoint(points);
  if (points.length === 0) return <p className="muted">{t('calib.noPoints')}</p>;
  return (
    <ol className="calibration-points">
      {points.map((p, i) => {
        const state = pointState(p);
        const metres = toMetres(p, plan);
        const count = counts.get(p.id);
        const seconds = elapsedSeconds(p, now);
        return (
          <li key={p.id} className={`${state}${p.id === selectedId ? ' selected' : ''}`} data-point-id={p.id}>
            <button type="button" className="link" aria-pressed={p.id === selectedId} onClick={() => onSelect(p.id)}>
              {t('calib.pointN', { n: i + 1 })}
            </button>{' '}
            <span className="muted">
              {metres.x} m, {metres.y} m
            </span>{' '}
            <span className={`badge ${state === 'recording' ? 'pending' : state === 'recorded' ? 'ok' : 'idle'}`}>{t(`calib.state.${state}`)}</span>
            {seconds !== null && (
              <p className="point-window" role={state === 'recording' ? 'status' : undefined}>
                {t('calib.elapsed', { n: seconds })}
                {count && ` · ${t(count.complete ? 'calib.readings' : 'calib.readingsAtLeast', { n: count.total, heard: count.heard, enough: count.enough })}`}
              </p>
            )}
            {p.id === selectedId && (
              <div className="point-metres">
                <label htmlFor={`calib-x-${p.id}`}>x (m)</label>
                <input id={`calib-x-${p.id}`} type="number" step="0.1" min="0" max={plan.width_m ?? undefined} value={metres.x} onChange={(e) => e.target.value !== '' && onMove(p.id, fromMetres({ x: Number(e.target.value), y: metres.y }, plan))} />
                <label htmlFor={`calib-y-${p.id}`}>y (m)</label>
                <input id={`calib-y-${p.id}`} type="number" step="0.1" min="0" max={plan.height_m ?? undefined} value={metres.y} onChange={(e) => e.target.value !== '' && onMove(p.id, fromMetres({ x: metres.x, y: Number(e.target.value) }, plan))} />
              </div>
            )}
            <div className="form-actions">
              {state === 'recording' ? (
                <button type="button" className="primary" onClick={() => onStop(p.id)}>
                  {t('calib.stop')}
                </button>
              ) : (
                <button type="button" className={state === 'placed' ? 'primary' : ''} onClick={() => onStart(p.id)} disabled={!!busy} title={busy ? t('calib.oneAtATime') : undefined}>
                  {t(state === 'placed' ? 'calib.start' : 'calib.restart')}
                </button>
              )}
              <button type="button" className="danger" onClick={() => onDelete(p.id)} aria-label={t('calib.deletePoint', { n: i + 1 })}>
                {t('common.delete')}
              </button>
            </div>
          </li>
        );
      })}
    </ol>
  );
}
