import { listPath } from '../api/client';
import type { Building } from '../api/types';
import { DataTable } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { SelectFilter } from '../components/SelectFilter';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { AreaChart, BarChart, Meter } from './Charts';
import { ByTypeTable, GranularityPicker } from './PersonPanel';
import { reportPath } from './request';
import { Counts, ReportCard, useReportFormat } from './ReportCard';
import { chosenOrFirst, reportQuery, type PanelProps } from './panel';
import { bucketsOf, type AlertsSummary, type BuildingSummary, type PresenceBucket, type TopGateway } from './types';

type Buckets = PresenceBucket[] | { buckets: PresenceBucket[] };

/** A building over the window: totals, its busiest gateways, hour by hour, by calendar, alerts. */
export function BuildingsPanel(props: PanelProps) {
  const { t } = useI18n();
  const f = useReportFormat(props.filters.tz);
  const buildings = useList<Building>(listPath('/buildings'));
  const buildingId = chosenOrFirst(props.filters.building, buildings.data);
  const base = buildingId ? `/reports/buildings/${buildingId}` : null;
  const path = (suffix: string, takesMinimum: boolean, own = {}) => (base ? reportPath(`${base}${suffix}`, reportQuery(props, takesMinimum, own)) : null);

  const topTable = (rows: TopGateway[], by: 'sessions_count' | 'total_dwell_seconds') => {
    const max = Math.max(0, ...rows.map((r) => r[by]));
    const shown = (r: TopGateway) => (by === 'sessions_count' ? f.number(r.sessions_count) : f.duration(r.total_dwell_seconds));
    return (
      <DataTable
        rows={rows}
        rowKey={(r) => r.device_id}
        empty={t('reports.noData')}
        columns={[
          { header: t('reports.gateway'), cell: (r) => r.device_name },
          { header: by === 'sessions_count' ? t('reports.sessions') : t('reports.dwell'), cell: (r) => <Meter value={r[by]} max={max} text={shown(r)} /> },
          { header: by === 'sessions_count' ? t('reports.dwell') : t('reports.sessions'), cell: (r) => (by === 'sessions_count' ? f.duration(r.total_dwell_seconds) : f.number(r.sessions_count)) },
          { header: t('reports.people'), cell: (r) => f.number(r.unique_people_count) },
        ]}
      />
    );
  };

  return (
    <>
      <div className="filters">
        <SelectFilter id="report-building" label={t('reports.building')} value={buildingId} options={(buildings.data ?? []).map((b) => [String(b.id), b.name])} onChange={(building) => props.setFilters({ building })} />
      </div>
      <ErrorAlert message={buildings.error} />
      {buildings.data?.length === 0 && <p className="muted">{t('reports.noBuildings')}</p>}
      {base && (
        <>
          <ReportCard<BuildingSummary> id="report-building-summary" title={t('reports.buildingSummary')} path={path('/summary', true)} window={props.window}>
            {(s) => (
              <>
                <Counts
                  items={[
                    [t('reports.dwell'), f.duration(s.total_dwell_seconds)],
                    [t('reports.sessions'), f.number(s.total_sessions)],
                    [t('reports.avgDwell'), f.duration(s.avg_dwell_seconds)],
                    [t('reports.people'), f.number(s.unique_people_count)],
                    [t('reports.tags'), f.number(s.unique_tags_count)],
                  ]}
                />
                <div className="report-grid">
                  <section aria-labelledby="building-by-sessions-title">
                    <h3 id="building-by-sessions-title">{t('reports.topBySessions')}</h3>
                    {topTable(s.top_gateways_by_sessions, 'sessions_count')}
                  </section>
                  <section aria-labelledby="building-by-dwell-title">
                    <h3 id="building-by-dwell-title">{t('reports.topByDwell')}</h3>
                    {topTable(s.top_gateways_by_dwell, 'total_dwell_seconds')}
                  </section>
                </div>
              </>
            )}
          </ReportCard>
          <ReportCard<Buckets> id="report-building-hours" title={t('reports.buildingHours')} help={t('reports.buildingHoursHelp')} path={path('/time-of-day', false)} window={props.window}>
            {(report) => {
              const buckets = bucketsOf(report);
              return (
                <AreaChart
                  title={t('reports.buildingHours')}
                  axis={t('reports.period')}
                  labels={buckets.map((b) => f.bucket(b.bucket_start, 'hour'))}
                  series={[{ name: t('reports.people'), values: buckets.map((b) => b.unique_people_count) }]}
                  scale="count"
                />
              );
            }}
          </ReportCard>
          <ReportCard<Buckets>
            id="report-building-calendar"
            title={t('reports.calendar')}
            path={path('/time-distribution/calendar', false, { granularity: props.filters.granularity })}
            window={props.window}
            tools={<GranularityPicker id="building-granularity" props={props} />}
          >
            {(report) => {
              const buckets = bucketsOf(report);
              return (
                <BarChart
                  title={t('reports.calendar')}
                  axis={t('reports.period')}
                  labels={buckets.map((b) => f.bucket(b.bucket_start, props.filters.granularity))}
                  series={[{ name: t('reports.dwell'), values: buckets.map((b) => b.total_dwell_seconds) }]}
                  scale="duration"
                />
              );
            }}
          </ReportCard>
          <ReportCard<AlertsSummary> id="report-building-alerts" title={t('reports.alertsSummary')} path={path('/alerts/summary', false)} window={props.window}>
            {(a) => (
              <>
                <Counts items={[[t('reports.alerts'), f.number(a.total_alerts)]]} />
                <ByTypeTable rows={a.by_type} />
              </>
            )}
          </ReportCard>
        </>
      )}
    </>
  );
}
