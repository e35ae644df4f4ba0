// The heat map on the live map: its controls (window, group, grid), the cells drawn over the
// plan, and the legend with the busiest areas in words.
import { useEffect, useMemo, useState } from 'react';
import { api, listPath } from '../api/client';
import { messageOf } from '../api/errors';
import type { FloorPlan, Id, PersonGroup, Zone } from '../api/types';
import { ErrorAlert } from '../components/ErrorAlert';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { cellRect, formatDwell, heatColor, hottestAreas, legendStops, occupiedCells, type HotArea } from './heatmap';
import { DEFAULT_COLUMNS, heatmapPath, lastHours, parseWindow, type Heatmap } from './history';
import type { ViewSize } from './planGeometry';
import { WindowPicker } from './WindowPicker';

const COLUMN_CHOICES = [20, DEFAULT_COLUMNS, 80];

/** Window, person group and grid of the heat map; loads it for the plan shown. */
export function HeatmapControls({ plan, onHeatmap }: { plan: FloorPlan; onHeatmap: (heatmap: Heatmap | null) => void }) {
  const { t } = useI18n();
  const groups = useList<PersonGroup>(listPath('/person-groups'));
  const [span, setSpan] = useState(() => lastHours(24));
  const [groupId, setGroupId] = useState<Id | null>(null);
  const [columns, setColumns] = useState(DEFAULT_COLUMNS);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState('');

  const load = () => {
    const parsed = parseWindow(span);
    if (typeof parsed === 'string') {
      setError(t(parsed === 'order' ? 'history.order' : 'history.invalid'));
      return;
    }
    setLoading(true);
    setError('');
    api
      .get<Heatmap>(heatmapPath({ planId: plan.id, groupId, columns, ...parsed }))
      .then(onHeatmap, (e) => {
        setError(messageOf(e));
        onHeatmap(null);
      })
      .finally(() => setLoading(false));
  };
  // Shown at once with the defaults, and again for another plan.
  useEffect(() => {
    onHeatmap(null);
    load();
  }, [plan.id]);

  return (
    <div className="heatmap-controls" role="group" aria-label={t('heatmap.controls')}>
      <div className="filters">
        <WindowPicker idPrefix="heatmap" value={span} onChange={setSpan} presets={[1, 24, 24 * 7]} />
        <div className="field">
          <label htmlFor="heatmap-group">{t('heatmap.group')}</label>
          <select id="heatmap-group" value={groupId ?? ''} onChange={(e) => setGroupId(Number(e.target.value) || null)}>
            <option value="">{t('heatmap.everyone')}</option>
            {(groups.data ?? []).map((g) => (
              <option key={g.id} value={g.id}>
                {g.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="heatmap-columns">{t('heatmap.grid')}</label>
          <select id="heatmap-columns" value={columns} onChange={(e) => setColumns(Number(e.target.value))}>
            {COLUMN_CHOICES.map((n) => (
              <option key={n} value={n}>
                {t('heatmap.columns', { n })}
              </option>
            ))}
          </select>
        </div>
        <button type="button" onClick={load} disabled={loading}>
          {loading ? t('common.loading') : t('heatmap.show')}
        </button>
      </div>
      <ErrorAlert message={error || groups.error} />
    </div>
  );
}

/** The occupied cells as translucent rectangles over the plan (under the markers). */
export function HeatmapCells({ heatmap, view }: { heatmap: Heatmap; view: ViewSize }) {
  const cells = useMemo(() => occupiedCells(heatmap), [heatmap]);
  return (
    <g className="heatmap" data-testid="heatmap" aria-hidden="true">
      {cells.map((cell) => {
        const rect = cellRect(cell.row, cell.col, heatmap, view);
        return (
          <rect
            key={`${cell.row}-${cell.col}`}
            x={rect.x}
            y={rect.y}
            width={rect.width}
            height={rect.height}
            fill={heatColor(cell.seconds, heatmap.max_seconds)}
            data-seconds={cell.seconds}
          />
        );
      })}
    </g>
  );
}

/** The colour scale, and the people, total dwell and busiest areas as text. */
export function HeatmapLegend({ heatmap, zones }: { heatmap: Heatmap; zones: Zone[] }) {
  const { t } = useI18n();
  const areas = useMemo(() => hottestAreas(heatmap, zones), [heatmap, zones]);
  const areaName = (hot: HotArea) => (hot.area.kind === 'zone' ? t('heatmap.zone', { name: hot.area.name }) : t(`heatmap.region.${hot.area.region}`));
  if (heatmap.total_seconds <= 0 || areas.length === 0) {
    return <p className="muted heatmap-summary">{t('heatmap.empty')}</p>;
  }
  return (
    <div className="heatmap-legend">
      <figure aria-hidden="true">
        <figcaption>{t('heatmap.legend')}</figcaption>
        <ol className="heatmap-scale">
          {legendStops(heatmap.max_seconds).map((stop) => (
            <li key={stop.seconds}>
              <span className="swatch" style={{ background: stop.color }} /> {formatDwell(stop.seconds)}
            </li>
          ))}
        </ol>
      </figure>
      <div className="heatmap-summary" data-testid="heatmap-summary">
        <p>{t('heatmap.summary', { people: heatmap.people_count, total: formatDwell(heatmap.total_seconds), max: formatDwell(heatmap.max_seconds) })}</p>
        <ol>
          {areas.map((hot) => (
            <li key={hot.area.kind === 'zone' ? `zone-${hot.area.zoneId}` : hot.area.region}>
              {areaName(hot)}: {formatDwell(hot.seconds)} ({Math.round(hot.share * 100)} %)
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}
