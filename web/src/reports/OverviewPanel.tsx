import { DataTable, type Column } from '../components/DataTable';
import { useI18n } from '../i18n/i18n';
import { Meter } from './Charts';
import { reportPath } from './request';
import { Counts, ReportCard, useReportFormat } from './ReportCard';
import { reportQuery, type PanelProps } from './panel';
import type { Overview } from './types';

interface Ranked {
  key: number;
  name: string;
  total_sessions: number;
  total_dwell_seconds: number;
}

/** The whole site over the window: totals, then the top gateways, people, places and groups. */
export function OverviewPanel(props: PanelProps) {
  const { t } = useI18n();
  const f = useReportFormat(props.filters.tz);
  const path = reportPath('/reports/overview', reportQuery(props, false));

  const ranked = (id: string, title: string, rows: Ranked[]) => {
    const max = Math.max(0, ...rows.map((r) => r.total_dwell_seconds));
    const columns: Column<Ranked>[] = [
      { header: t('common.name'), cell: (r) => r.name },
      { header: t('reports.sessions'), cell: (r) => f.number(r.total_sessions) },
      { header: t('reports.dwell'), cell: (r) => <Meter value={r.total_dwell_seconds} max={max} text={f.duration(r.total_dwell_seconds)} /> },
    ];
    return (
      <section className="report-section" aria-labelledby={`${id}-title`}>
        <h3 id={`${id}-title`}>{title}</h3>
        <DataTable rows={rows} columns={columns} rowKey={(r) => r.key} empty={t('reports.noData')} />
      </section>
    );
  };

  return (
    <ReportCard<Overview> id="report-overview" title={t('reports.overview')} path={path} window={props.window}>
      {(o) => (
        <>
          <Counts
            items={[
              [t('reports.sessions'), f.number(o.summary.total_sessions)],
              [t('reports.dwell'), f.duration(o.summary.total_dwell_seconds)],
              [t('reports.avgDwell'), f.duration(o.summary.avg_dwell_seconds)],
              [t('reports.people'), f.number(o.summary.total_unique_people)],
              [t('reports.tags'), f.number(o.summary.total_unique_tags)],
              [t('reports.gateways'), f.number(o.summary.total_unique_devices)],
            ]}
          />
          <p className="muted">
            {t('reports.firstLast', { first: f.instant(o.summary.first_session_at), last: f.instant(o.summary.last_session_at) })}
          </p>
          <div className="report-grid">
            {ranked('overview-people', t('reports.topPeople'), o.top_people.map((r) => ({ ...r, key: r.person_id, name: r.person_name })))}
            {ranked('overview-gateways', t('reports.topGateways'), o.top_devices.map((r) => ({ ...r, key: r.device_id, name: r.device_name })))}
            {ranked('overview-buildings', t('reports.topBuildings'), o.top_buildings.map((r) => ({ ...r, key: r.building_id, name: r.building_name })))}
            {ranked('overview-floors', t('reports.topFloors'), o.top_floors.map((r) => ({ ...r, key: r.floor_id, name: r.building_name ? `${r.floor_name} · ${r.building_name}` : r.floor_name })))}
            {ranked('overview-groups', t('reports.topGroups'), o.top_groups.map((r) => ({ ...r, key: r.group_id, name: r.group_name })))}
          </div>
        </>
      )}
    </ReportCard>
  );
}
