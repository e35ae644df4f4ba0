import { listPath } from '../api/client';
import type { Person } from '../api/types';
import { DataTable, type Column } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { SelectFilter } from '../components/SelectFilter';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { BarChart, Meter } from './Charts';
import { hourLabel, weekdayNames } from './format';
import { reportPath } from './request';
import { Counts, ReportCard, useReportFormat } from './ReportCard';
import { chosenOrFirst, reportQuery, type PanelProps } from './panel';
import type { DayOfWeek, DwellByDevice, HourByGateway, HourOfDay, PersonAlerts, PersonCalendar, PersonSummary, TimelineSession, TypeCount } from './types';
import { GRANULARITIES, type Granularity } from './window';

/** How many of the person's sessions the timeline lists (the API allows 5000). */
const TIMELINE_LIMIT = 500;
const HOURS = Array.from({ length: 24 }, (_, h) => h);

/** Where a gateway is: "Plan · Floor · Building", the parts known. */
export function placeOf(row: { floor_plan_name?: string | null; floor_name: string | null; building_name: string | null }): string {
  return [row.floor_plan_name, row.floor_name, row.building_name].filter(Boolean).join(' · ') || '—';
}

/** The granularity choice of a calendar report. */
export function GranularityPicker({ id, props }: { id: string; props: PanelProps }) {
  const { t } = useI18n();
  return (
    <SelectFilter
      id={id}
      label={t('reports.granularity')}
      value={props.filters.granularity}
      options={GRANULARITIES.map((g) => [g, t(`reports.granularity.${g}`)])}
      onChange={(value) => props.setFilters({ granularity: value as Granularity })}
    />
  );
}

export function DwellByDeviceTable({ rows, people }: { rows: DwellByDevice[]; people?: boolean }) {
  const { t } = useI18n();
  const f = useReportFormat('');
  const max = Math.max(0, ...rows.map((r) => r.total_dwell_seconds));
  const columns: Column<DwellByDevice>[] = [
    { header: t('reports.gateway'), cell: (r) => r.device_name },
    { header: t('reports.place'), cell: placeOf },
    { header: t('reports.sessions'), cell: (r) => f.number(r.sessions_count) },
    ...(people ? [{ header: t('reports.people'), cell: (r: DwellByDevice) => f.number(r.unique_people_count) }] : []),
    { header: t('reports.dwell'), cell: (r) => <Meter value={r.total_dwell_seconds} max={max} text={f.duration(r.total_dwell_seconds)} /> },
  ];
  return <DataTable rows={rows} columns={columns} rowKey={(r) => r.device_id} empty={t('reports.noData')} />;
}

export function ByTypeTable({ rows }: { rows: TypeCount[] }) {
  const { t } = useI18n();
  const max = Math.max(0, ...rows.map((r) => r.alerts_count));
  const columns: Column<TypeCount>[] = [
    { header: t('reports.alertType'), cell: (r) => r.event_type },
    { header: t('reports.alerts'), cell: (r) => <Meter value={r.alerts_count} max={max} text={String(r.alerts_count)} /> },
  ];
  return <DataTable rows={rows} columns={columns} rowKey={(r) => r.event_type} empty={t('reports.noAlerts')} />;
}

/** One person over the window: where, when (calendar, hour of day, day of week), and alerts. */
export function PersonPanel(props: PanelProps) {
  const { t, language } = useI18n();
  const f = useReportFormat(props.filters.tz);
  const people = useList<Person>(listPath('/people'));
  const personId = chosenOrFirst(props.filters.person, people.data);
  const base = personId ? `/reports/person/${personId}` : null;
  const path = (suffix: string, takesMinimum: boolean, own = {}) => (base ? reportPath(`${base}${suffix}`, reportQuery(props, takesMinimum, own)) : null);

  const timelineColumns: Column<TimelineSession>[] = [
    { header: t('reports.start'), cell: (s) => f.instant(s.started_at) },
    { header: t('reports.end'), cell: (s) => (s.is_open || !s.ended_at ? t('reports.open') : f.instant(s.ended_at)) },
    { header: t('reports.gateway'), cell: (s) => s.device_name },
    { header: t('reports.place'), cell: placeOf },
    { header: t('reports.dwell'), cell: (s) => f.duration(s.duration_seconds) },
    { header: t('reports.samples'), cell: (s) => f.number(s.samples_count) },
  ];

  return (
    <>
      <div className="filters">
        <SelectFilter id="report-person" label={t('reports.person')} value={personId} options={(people.data ?? []).map((p) => [String(p.id), p.full_name])} onChange={(person) => props.setFilters({ person })} />
      </div>
      <ErrorAlert message={people.error} />
      {people.data?.length === 0 && <p className="muted">{t('reports.noPeople')}</p>}
      {base && (
        <>
          <ReportCard<PersonSummary> id="report-person-summary" title={t('reports.personSummary')} path={path('/summary', true)} window={props.window}>
            {(s) => (
              <>
                <Counts
                  items={[
                    [t('reports.dwell'), f.duration(s.total_dwell_seconds)],
                    [t('reports.sessions'), f.number(s.total_sessions)],
                    [t('reports.firstSeen'), f.instant(s.first_session_at)],
                    [t('reports.lastSeen'), f.instant(s.last_session_at)],
                  ]}
                />
                <h3>{t('reports.dwellByGateway')}</h3>
                <DwellByDeviceTable rows={s.dwell_by_device} />
              </>
            )}
          </ReportCard>
          <ReportCard<PersonCalendar>
            id="report-person-calendar"
            title={t('reports.calendar')}
            path={path('/time-distribution/calendar', true, { granularity: props.filters.granularity })}
            window={props.window}
            tools={<GranularityPicker id="person-granularity" props={props} />}
          >
            {(c) => (
              <BarChart
                title={t('reports.calendar')}
                axis={t('reports.period')}
                labels={c.buckets.map((b) => f.bucket(b.bucket_start, props.filters.granularity))}
                series={[{ name: t('reports.dwell'), values: c.buckets.map((b) => b.total_dwell_seconds) }]}
                scale="duration"
              />
            )}
          </ReportCard>
          <ReportCard<HourOfDay> id="report-person-hours" title={t('reports.hourOfDay')} path={path('/time-distribution/hour-of-day', true)} window={props.window}>
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
          <ReportCard<DayOfWeek> id="report-person-weekdays" title={t('reports.dayOfWeek')} path={path('/time-distribution/day-of-week', true)} window={props.window}>
            {(d) => (
              <BarChart
                title={t('reports.dayOfWeek')}
                axis={t('reports.weekday')}
                labels={weekdayNames(language)}
                series={[{ name: t('reports.dwell'), values: [0, 1, 2, 3, 4, 5, 6].map((day) => d.buckets.find((b) => b.day_of_week === day)?.total_dwell_seconds ?? 0) }]}
                scale="duration"
              />
            )}
          </ReportCard>
          <ReportCard<HourByGateway> id="report-person-hour-gateway" title={t('reports.hourByGateway')} path={path('/time-distribution/hour-by-gateway', true)} window={props.window}>
            {(h) => {
              const gateways = [...new Map(h.buckets.map((b) => [b.device_id, b.device_name])).entries()];
              return (
                <BarChart
                  title={t('reports.hourByGateway')}
                  axis={t('reports.hour')}
                  labels={HOURS.map(hourLabel)}
                  series={gateways.map(([id, name]) => ({ name, values: HOURS.map((hour) => h.buckets.find((b) => b.hour === hour && b.device_id === id)?.total_dwell_seconds ?? 0) }))}
                  scale="duration"
                />
              );
            }}
          </ReportCard>
          <ReportCard<TimelineSession[]> id="report-person-timeline" title={t('reports.timeline')} help={t('reports.timelineHelp', { n: TIMELINE_LIMIT })} path={path('/timeline', true, { limit: TIMELINE_LIMIT })} window={props.window}>
            {(sessions) => <DataTable rows={sessions} columns={timelineColumns} rowKey={(s) => s.session_id} empty={t('reports.noData')} />}
          </ReportCard>
          <ReportCard<PersonAlerts> id="report-person-alerts" title={t('reports.personAlerts')} path={path('/alerts', false)} window={props.window}>
            {(a) => (
              <>
                <Counts
                  items={[
                    [t('reports.alerts'), f.number(a.total_alerts)],
                    [t('reports.firstAlert'), f.instant(a.first_alert_at)],
                    [t('reports.lastAlert'), f.instant(a.last_alert_at)],
                  ]}
                />
                <ByTypeTable rows={a.by_type} />
                {a.events.length > 0 && (
                  <>
                    <h3>{t('reports.alertEvents')}</h3>
                    <DataTable
                      rows={a.events}
                      rowKey={(e) => e.id}
                      columns={[
                        { header: t('reports.start'), cell: (e) => f.instant(e.started_at) },
                        { header: t('reports.end'), cell: (e) => (e.ended_at ? f.instant(e.ended_at) : t('reports.open')) },
                        { header: t('reports.alertType'), cell: (e) => e.event_type },
                        { header: t('reports.gateway'), cell: (e) => e.device_name ?? '—' },
                        { header: t('reports.place'), cell: placeOf },
                      ]}
                    />
                  </>
                )}
              </>
            )}
          </ReportCard>
        </>
      )}
    </>
  );
}

