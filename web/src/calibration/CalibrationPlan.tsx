import { useMemo, useRef, useState } from 'react';
import type { Device, FloorPlan } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { PlanImage } from '../map/PlanImage';
import { accuracyRadii, clientToFraction, fractionToView, nudge, viewSize, type Point } from '../map/planGeometry';
import { pointState, toMetres, type PointRow, type StandingPoint } from './calibration';

interface Props {
  plan: FloorPlan;
  gateways: Device[];
  points: StandingPoint[];
  selectedId: number | null;
  /** The last fit's points, drawn as rings (null: none, or the points changed since). */
  fitted: PointRow[] | null;
  onPlace: (at: Point) => void;
  onSelect: (id: number) => void;
  onMove: (id: number, at: Point) => void;
}

/**
 * The plan with its gateways, the standing points (numbered as listed; focused, the arrow
 * keys move one) and, after a fit, a ring per point whose radius is the located position's
 * error before (dashed) and after (solid): the appliance answers distances, not positions.
 */
export function CalibrationPlan({ plan, gateways, points, selectedId, fitted, onPlace, onSelect, onMove }: Props) {
  const { t } = useI18n();
  const [imageSize, setImageSize] = useState<{ w: number; h: number } | null>(null);
  const svg = useRef<SVGSVGElement>(null);
  const view = useMemo(() => viewSize(imageSize?.w ?? plan.width, imageSize?.h ?? plan.height), [imageSize, plan]);

  const onClick = (event: React.MouseEvent) => {
    const marker = (event.target as Element).closest('[data-point-id]') as SVGGElement | null;
    if (marker) return onSelect(Number(marker.dataset.pointId));
    const rect = svg.current?.getBoundingClientRect();
    if (rect) onPlace(clientToFraction(rect, event.clientX, event.clientY));
  };

  const ring = (className: string, at: Point, errorM: number | null, title: string) => {
    const radii = accuracyRadii(errorM, plan, view);
    return (
      radii && (
        <ellipse className={className} cx={at.x} cy={at.y} rx={radii.rx} ry={radii.ry}>
          <title>{title}</title>
        </ellipse>
      )
    );
  };

  return (
    <div className="plan-frame">
      <PlanImage plan={plan} view={view} onSize={setImageSize} />
      <svg ref={svg} className="plan-overlay calibration-plan" viewBox={`0 0 ${view.width} ${view.height}`} preserveAspectRatio="none" onClick={onClick} data-testid="calibration-plan">
        {gateways.map((g) => {
          const at = fractionToView({ x: g.pos_x!, y: g.pos_y! }, view);
          return (
            <g key={g.id} className="device-pin gateway online" transform={`translate(${at.x} ${at.y})`} data-device-id={g.id}>
              <circle r="11" />
              <text y="26" textAnchor="middle">
                {g.name}
              </text>
              <title>{g.name}</title>
            </g>
          );
        })}
        {fitted?.map((p) => {
          const at = fractionToView(p, view);
          return (
            <g key={p.number} className="calibration-rings" data-ring={p.number}>
              {ring('before', at, p.error_before_m, t('calib.ringBefore', { n: p.number, m: p.error_before_m ?? '—' }))}
              {ring('after', at, p.error_after_m, t('calib.ringAfter', { n: p.number, m: p.error_after_m ?? '—' }))}
            </g>
          );
        })}
        {points.map((p, i) => {
          const at = fractionToView(p, view);
          const metres = toMetres(p, plan);
          const state = pointState(p);
          return (
            <g
              key={p.id}
              className={`calibration-point ${state}${p.id === selectedId ? ' selected' : ''}`}
              transform={`translate(${at.x} ${at.y})`}
              data-point-id={p.id}
              tabIndex={0}
              role="button"
              aria-pressed={p.id === selectedId}
              aria-label={t('calib.pointLabel', { n: i + 1, x: metres.x, y: metres.y, state: t(`calib.state.${state}`) })}
              onFocus={() => onSelect(p.id)}
              onKeyDown={(e) => {
                const next = nudge(p, e.key, e.shiftKey);
                if (next) {
                  e.preventDefault();
                  onMove(p.id, next);
                }
              }}
            >
              <circle r="13" />
              <text y="5" textAnchor="middle">
                {i + 1}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
