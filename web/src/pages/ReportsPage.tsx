import { useMemo, useState, type ChangeEvent, type FormEvent, type ReactNode } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { ErrorAlert } from '../components/ErrorAlert';
import { Page } from '../components/Page';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { BuildingsPanel } from '../reports/BuildingsPanel';
import { formatInstant } from '../reports/format';
import { GatewaysPanel } from '../reports/GatewaysPanel';
import { GroupPanel } from '../reports/GroupPanel';
import { OverviewPanel } from '../reports/OverviewPanel';
import type { PanelProps } from '../reports/panel';
import { PersonPanel } from '../reports/PersonPanel';
import { SessionsPanel } from '../reports/SessionsPanel';
import { filtersQuery, instantToWall, parseFilters, QUICK_RANGES, resolveWindow, timeZoneChoices, wallToInstant, type QuickRange, type ReportFilters } from '../reports/window';

const TABS: [string, MessageKey, (props: PanelProps) => ReactNode][] = [
  ['overview', 'reports.tab.overview', OverviewPanel],
  ['person', 'reports.tab.person', PersonPanel],
  ['group', 'reports.tab.group', GroupPanel],
  ['gateways', 'reports.tab.gateways', GatewaysPanel],
  ['buildings', 'reports.tab.buildings', BuildingsPanel],
  ['sessions', 'reports.tab.sessions', SessionsPanel],
];

const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/**
 * Reports (/reports/:tab): presence and alerts over a window, by site, person, group, gateway
 * and building. The filters live in the URL, so a report reloads, prints and is shared as shown.
 */
export function ReportsPage() {
  const { t, language } = useI18n();
  const tab = TABS.find(([key]) => key === useParams().tab) ?? TABS[0];
  const [query, setQuery] = useSearchParams();
  const filters = parseFilters(query);
  // Quick ranges end at the moment they were chosen (or applied again), not at every render.
  const [now, setNow] = useState(() => Date.now());
  const window = useMemo(() => resolveWindow(filters, now), [filters.range, filters.from, filters.to, now]);
  const setFilters = (changes: Partial<ReportFilters>) => setQuery(filtersQuery({ ...filters, ...changes }), { replace: true });
  const quick = (range: QuickRange) => {
    setNow(Date.now());
    setFilters({ range, from: '', to: '' });
  };
  const apply = (changes: Partial<ReportFilters>) => {
    setNow(Date.now());
    setFilters(changes);
  };
  const Panel = tab[2];

  return (
    <Page
      title={t('nav.reports')}
      tools={
        <button type="button" className="no-print" onClick={() => print()}>
          {t('reports.print')}
        </button>
      }
    >
      <WindowForm key={[filters.range, filters.from, filters.to, filters.tz, filters.min, now].join('|')} filters={filters} window={window} onApply={apply} onQuick={quick} />
      <p className="print-only report-filters-summary">
        {t('reports.printedWindow', {
          from: formatInstant(window.from_ts, language, filters.tz),
          to: formatInstant(window.to_ts, language, filters.tz),
          zone: filters.tz || BROWSER_ZONE,
        })}
        {` · ${t('reports.timeZone')}: ${filters.tz || t('reports.siteZone')}`}
        {filters.min && ` · ${t('reports.minDuration')}: ${filters.min}`}
      </p>
      <nav className="report-tabs no-print" aria-label={t('reports.tabs')}>
        {TABS.map(([key, label]) => (
          <Link key={key} to={{ pathname: `/reports/${key}`, search: query.toString() }} className={key === tab[0] ? 'active' : undefined} aria-current={key === tab[0] ? 'page' : undefined}>
            {t(label)}
          </Link>
        ))}
      </nav>
      <h2 className="print-only">{t(tab[1])}</h2>
      <Panel window={window} filters={filters} setFilters={setFilters} />
    </Page>
  );
}

/** The window (quick ranges apply at once; a custom window, zone and minimum on "Apply"). */
function WindowForm({ filters, window, onApply, onQuick }: { filters: ReportFilters; window: { from_ts: string; to_ts: string }; onApply: (changes: Partial<ReportFilters>) => void; onQuick: (range: QuickRange) => void }) {
  const { t } = useI18n();
  const [tz, setTz] = useState(filters.tz);
  // Typed in the chosen zone (the browser's for the site's, which the console does not know).
  const [from, setFrom] = useState(() => instantToWall(Date.parse(window.from_ts), filters.tz));
  const [to, setTo] = useState(() => instantToWall(Date.parse(window.to_ts), filters.tz));
  const [min, setMin] = useState(filters.min);
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState('');
  const zones = useMemo(() => timeZoneChoices(BROWSER_ZONE), []);
  const edit = (set: (value: string) => void) => (event: ChangeEvent<HTMLInputElement>) => {
    set(event.target.value);
    setTouched(true);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const fromMs = wallToInstant(from, tz);
    const toMs = wallToInstant(to, tz);
    if (Number.isNaN(fromMs) || Number.isNaN(toMs)) return setError(t('reports.badWindow'));
    if (fromMs >= toMs) return setError(t('reports.fromAfterTo'));
    if (min && !/^\d+$/.test(min)) return setError(t('reports.badMinimum'));
    setError('');
    // Untouched dates keep the window as it is (a quick range stays one).
    onApply(touched ? { range: '', from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), tz, min } : { tz, min });
  };

  return (
    <form className="card report-window" onSubmit={submit} aria-label={t('reports.window')}>
      <div className="quick-ranges" role="group" aria-label={t('reports.quickRanges')}>
        {(Object.keys(QUICK_RANGES) as QuickRange[]).map((range) => (
          <button key={range} type="button" aria-pressed={filters.range === range} onClick={() => onQuick(range)}>
            {t(`reports.range.${range}`)}
          </button>
        ))}
      </div>
      <div className="filters">
        <div className="field">
          <label htmlFor="report-from">{t('reports.from')}</label>
          <input id="report-from" type="datetime-local" value={from} onChange={edit(setFrom)} required />
        </div>
        <div className="field">
          <label htmlFor="report-to">{t('reports.to')}</label>
          <input id="report-to" type="datetime-local" value={to} onChange={edit(setTo)} required />
        </div>
        <div className="field">
          <label htmlFor="report-tz">{t('reports.timeZone')}</label>
          <select id="report-tz" value={tz} onChange={(e) => setTz(e.target.value)} aria-describedby="report-tz-hint">
            <option value="">{t('reports.siteZone')}</option>
            {zones.map((zone) => (
              <option key={zone} value={zone}>
                {zone === BROWSER_ZONE ? t('reports.browserZone', { zone }) : zone}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="report-min">{t('reports.minDuration')}</label>
          <input id="report-min" type="number" min={0} step={1} inputMode="numeric" value={min} onChange={(e) => setMin(e.target.value)} aria-describedby="report-min-hint" />
        </div>
        <button type="submit" className="primary">
          {t('reports.apply')}
        </button>
      </div>
      <p id="report-tz-hint" className="hint">
        {t('reports.timeZoneHint')}
      </p>
      <p id="report-min-hint" className="hint">
        {t('reports.minDurationHint')}
      </p>
      <ErrorAlert message={error} />
    </form>
  );
}
