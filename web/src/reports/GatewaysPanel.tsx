import { listPath } from '../api/client';
import type { Building, Device } from '../api/types';
import { DataTable } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { SelectFilter } from '../components/SelectFilter';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { AreaChart, BarChart, Meter } from './Charts';
import { hourLabel } from './format';
import { ByTypeTable, placeOf } from './PersonPanel';
import { reportPath } from './request';
import { Counts, ReportCard, useReportFormat } from './ReportCard';
import { chosenOrFirst, reportQuery, type PanelProps } from './panel';
import type { AlertsSummary, Concurrency, GatewayTimeOfDay, GatewayUsage, Occupancy } from './types';

const HOURS = Array.from({ length: 24 }, (_, h) => h);

/** Every gateway's use over the window, then one gateway in detail. */
export function GatewaysPanel(props: PanelProps) {
  const { t } = useI18n();
  const f = useReportFormat(props.filters.tz);
  const gateways = useList<Device>(listPath('/devices', { type: 'BLE_GATEWAY' }));
  const buildings = useList<Building>(listPath('/buildings'));
  const gatewayId = chosenOrFirst(props.filters.gateway, gateways.data);
  const usagePath = reportPath('/reports/gateways/usage-summary', reportQuery(props, true, { building_id: props.filters.building }));
  const base = gatewayId ? `/reports/gateways/${gatewayId}` : null;
  const path = (suffix: string, takesMinimum: boolean) => (base ? reportPath(`${base}${suffix}`, reportQuery(props, takesMinimum)) : null);

  return (
    <>
      <ReportCard<GatewayUsage>
        id="report-gateway-usage"
        title={t('reports.gatewayUsage')}
        path={usagePath}
        window={props.window}
        tools={
          <SelectFilter
            id="report-usage-building"
            label={t('reports.building')}
            value={props.filters.building}
            options={(buildings.data ?? []).map((b) => [String(b.id), b.name])}
            onChange={(building) => props.setFilters({ building })}
            any={t('reports.allBuildings')}
          />
        }
      >
        {(u) => {
          const max = Math.max(0, ...u.gateways.map((g) => g.total_dwell_seconds));
          return (
            <>
              <Counts
                items={[
                  [t('reports.gateways'), f.number(u.total_devices)],
                  [t('reports.sessions'), f.number(u.total_sessions)],
                  [t('reports.dwell'), f.duration(u.total_dwell_seconds)],
                ]}
              />
              <DataTable
                rows={u.gateways}
                rowKey={(g) => g.device_id}
                empty={t('reports.noData')}
                rowProps={(g) => ({ className: String(g.device_id) === gatewayId ? 'selected' : undefined })}
                columns={[
                  {
                    header: t('reports.gateway'),
                    cell: (g) => (
                      <button type="button" className="link" onClick={() => props.setFilters({ gateway: String(g.device_id) })}>
                        {g.device_name}
                      </button>
                    ),
                  },
                  { header: t('reports.place'), cell: placeOf },
                  { header: t('reports.people'), cell: (g) => f.number(g.unique_people_count) },
                  { header: t('reports.sessions'), cell: (g) => f.number(g.sessions_count) },
                  { header: t('reports.dwell'), cell: (g) => <Meter value={g.total_dwell_seconds} max={max} text={f.duration(g.total_dwell_seconds)} /> },
                  { header: t('reports.lastSeen'), cell: (g) => f.instant(g.last_session_at) },
                ]}
              />
            </>
          );
        }}
      </ReportCard>

      <div className="filters">
        <SelectFilter id="report-gateway" label={t('reports.gateway')} value={gatewayId} options={(gateways.data ?? []).map((g) => [String(g.id), g.name])} onChange={(gateway) => props.setFilters({ gateway })} />
      </div>
      <ErrorAlert message={gateways.error || buildings.error} />
      {gateways.data?.length === 0 && <p className="muted">{t('reports.noGateways')}</p>}
      {base && (
        <>
          <ReportCard<Occupancy> id="report-gateway-occupancy" title={t('reports.occupancy')} help={t('reports.occupancyHelp')} path={path('/occupancy', false)} window={props.window}>
            {(o) => (
              <>
                <Counts
                  items={[
                    [t('reports.peak'), o.peak?.bucket_start && o.peak.unique_people_count > 0 ? `${o.peak.unique_people_count} · ${f.bucket(o.peak.bucket_start, 'hour')}` : '—'],
                    [t('reports.avgDwell'), f.duration(o.avg_dwell_seconds)],
                    [t('reports.p50Dwell'), f.duration(o.p50_dwell_seconds)],
                    [t('reports.p95Dwell'), f.duration(o.p95_dwell_seconds)],
                  ]}
                />
                <AreaChart
                  title={t('reports.occupancy')}
                  axis={t('reports.period')}
                  labels={o.buckets.map((b) => f.bucket(b.bucket_start, 'hour'))}
                  series={[{ name: t('reports.people'), values: o.buckets.map((b) => b.unique_people_count) }]}
                  scale="count"
                />
              </>
            )}
          </ReportCard>
          <ReportCard<Concurrency> id="report-gateway-concurrency" title={t('reports.concurrency')} help={t('reports.concurrencyHelp')} path={path('/concurrency', false)} window={props.window}>
            {(c) => (
              <AreaChart
                title={t('reports.concurrency')}
                axis={t('reports.period')}
                labels={c.buckets.map((b) => f.bucket(b.bucket_start, 'hour'))}
                series={[{ name: t('reports.peakPeople'), values: c.buckets.map((b) => b.peak_concurrency_people) }]}
                scale="count"
              />
            )}
          </ReportCard>
          <ReportCard<GatewayTimeOfDay> id="report-gateway-hours" title={t('reports.hourOfDay')} path={path('/time-of-day', true)} window={props.window}>
            {(h) => (
              <BarChart
                title={t('reports.hourOfDay')}
                axis={t('reports.hour')}
                labels={HOURS.map(hourLabel)}
                series={[{ name: t('reports.dwell'), values: HOURS.map((hour) => h.buckets.find((b) => b.hour === hour)?.total_dwell_seconds ?? 0) }]}
                scale="duration"
              />
            )}
          </ReportCard>
          <ReportCard<AlertsSummary> id="report-gateway-alerts" title={t('reports.alertsSummary')} path={path('/alerts/summary', false)} window={props.window}>
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
