// Charts drawn as SVG by the console itself (no chart library: two chart kinds do not earn one).
// Each is an image with a spoken summary, and its numbers as a table, shown on demand and
// always in print.
import { useId, useState, type ReactNode } from 'react';
import { useI18n } from '../i18n/i18n';
import { CHART_BOX, barLayout, lineLayout, peakIndex, type Scale, type Tick } from './chart';
import { formatDuration, formatNumber } from './format';

/** Series colours: distinguishable, and dark enough against white. */
const PALETTE = ['#0b5cad', '#d9480f', '#2b8a3e', '#7048b6', '#c2255c', '#0c8599', '#8f6b00', '#495057'];

export interface Series {
  name: string;
  values: number[];
}

interface ChartProps {
  /** Names the chart (its spoken summary starts with it). */
  title: string;
  /** The axis of the buckets: its name (the data table's first header) and each bucket's label. */
  axis: string;
  labels: string[];
  series: Series[];
  /** Durations in seconds, or counts. */
  scale: Scale;
}

/** Room a bucket label needs on the axis (12 px text, about 7 px a character). */
const labelRoom = (labels: string[]) => Math.max(0, ...labels.map((l) => l.length)) * 7 + 10;

function useFormat(scale: Scale): (value: number) => string {
  const { language } = useI18n();
  return scale === 'duration' ? formatDuration : (value) => formatNumber(value, language, 1);
}

/** "Title: 24 intervals; the highest, 3 h 10 min, at 14h." */
function useSummary({ title, labels, series, scale }: ChartProps): string {
  const { t } = useI18n();
  const format = useFormat(scale);
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const peak = peakIndex(totals);
  if (peak < 0) return t('reports.chartEmpty', { title });
  return t('reports.chartSummary', { title, n: labels.length, max: format(totals[peak]), at: labels[peak] });
}

function Grid({ ticks, format }: { ticks: Tick[]; format: (value: number) => string }) {
  return (
    <g className="chart-grid">
      {ticks.map((tick) => (
        <g key={tick.value}>
          <line x1={CHART_BOX.left} x2={CHART_BOX.width - CHART_BOX.right} y1={tick.y} y2={tick.y} />
          <text x={CHART_BOX.left - 6} y={tick.y + 4} textAnchor="end">
            {format(tick.value)}
          </text>
        </g>
      ))}
    </g>
  );
}

function XLabels({ labels, centers, every }: { labels: string[]; centers: number[]; every: number }) {
  const y = CHART_BOX.height - CHART_BOX.bottom + 16;
  return (
    <g className="chart-labels">
      {labels.map((label, i) =>
        i % every === 0 ? (
          <text key={i} x={centers[i]} y={y} textAnchor="middle">
            {label}
          </text>
        ) : null,
      )}
    </g>
  );
}

/** Columns over the buckets; several series stack, with a legend. */
export function BarChart(props: ChartProps) {
  const { labels, series, scale } = props;
  const format = useFormat(scale);
  const summary = useSummary(props);
  const layout = barLayout(
    labels.map((_, i) => series.map((s) => s.values[i] ?? 0)),
    scale,
    CHART_BOX,
    labelRoom(labels),
  );
  return (
    <Figure {...props} summary={summary}>
      <Grid ticks={layout.ticks} format={format} />
      {layout.bars.map((bar) => (
        <g key={bar.index} className="chart-bar">
          {bar.segments.map((segment) =>
            segment.height > 0 ? (
              <rect key={segment.series} x={bar.x} y={segment.y} width={bar.width} height={segment.height} fill={PALETTE[segment.series % PALETTE.length]}>
                <title>{`${labels[bar.index]} · ${series[segment.series].name}: ${format(segment.value)}`}</title>
              </rect>
            ) : null,
          )}
        </g>
      ))}
      <XLabels labels={labels} centers={layout.bars.map((b) => b.center)} every={layout.labelEvery} />
    </Figure>
  );
}

/** One series as a line with the area under it (occupancy over time). */
export function AreaChart(props: ChartProps) {
  const { labels, series, scale } = props;
  const format = useFormat(scale);
  const summary = useSummary(props);
  const layout = lineLayout(series[0]?.values ?? [], scale, CHART_BOX, labelRoom(labels));
  return (
    <Figure {...props} summary={summary}>
      <Grid ticks={layout.ticks} format={format} />
      <path className="chart-area" d={layout.area} />
      <path className="chart-line" d={layout.line} />
      {/* Dots only where they can be told apart (a week of hours is a line). */}
      {layout.points.length <= 48 &&
        layout.points.map((p, i) => (
          <circle key={i} className="chart-point" cx={p.x} cy={p.y} r={3}>
            <title>{`${labels[i]}: ${format(p.value)}`}</title>
          </circle>
        ))}
      <XLabels labels={labels} centers={layout.points.map((p) => p.x)} every={layout.labelEvery} />
    </Figure>
  );
}

function Figure({ axis, labels, series, scale, summary, children }: ChartProps & { summary: string; children: ReactNode }) {
  const { t } = useI18n();
  const format = useFormat(scale);
  const [open, setOpen] = useState(false);
  const dataId = useId();
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${CHART_BOX.width} ${CHART_BOX.height}`} role="img" aria-label={summary} data-bars={labels.length}>
        {children}
      </svg>
      {series.length > 1 && (
        <ul className="chart-legend">
          {series.map((s, i) => (
            <li key={i}>
              <span className="swatch" style={{ background: PALETTE[i % PALETTE.length] }} /> {s.name}
            </li>
          ))}
        </ul>
      )}
      <figcaption className="no-print">
        <button type="button" className="link" aria-expanded={open} aria-controls={dataId} onClick={() => setOpen(!open)}>
          {open ? t('reports.hideData') : t('reports.showData')}
        </button>
      </figcaption>
      <div id={dataId} className={open ? 'chart-data table-wrap' : 'chart-data table-wrap collapsed'}>
        <table>
          <caption className="visually-hidden">{summary}</caption>
          <thead>
            <tr>
              <th scope="col">{axis}</th>
              {series.map((s, i) => (
                <th key={i} scope="col">
                  {s.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {labels.map((label, i) => (
              <tr key={i}>
                <th scope="row">{label}</th>
                {series.map((s, j) => (
                  <td key={j}>{format(s.values[i] ?? 0)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

/** A ranked value drawn as a bar inside its table cell (for the "top" lists). */
export function Meter({ value, max, text }: { value: number; max: number; text: string }) {
  const share = max > 0 ? Math.min(100, (Math.max(0, value) / max) * 100) : 0;
  return (
    <span className="meter">
      <span className="meter-bar" style={{ width: `${share}%` }} aria-hidden="true" />
      <span>{text}</span>
    </span>
  );
}
