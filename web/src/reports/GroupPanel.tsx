import { listPath } from '../api/client';
import type { PersonGroup } from '../api/types';
import { DataTable } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { SelectFilter } from '../components/SelectFilter';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { Meter } from './Charts';
import { DwellByDeviceTable } from './PersonPanel';
import { reportPath } from './request';
import { Counts, ReportCard, useReportFormat } from './ReportCard';
import { chosenOrFirst, reportQuery, type PanelProps } from './panel';
import type { GroupSummary } from './types';

/** A person group over the window: where its members were, and each member's dwell. */
export function GroupPanel(props: PanelProps) {
  const { t } = useI18n();
  const f = useReportFormat(props.filters.tz);
  const groups = useList<PersonGroup>(listPath('/person-groups'));
  const groupId = chosenOrFirst(props.filters.group, groups.data);
  const path = groupId ? reportPath(`/reports/person-group/${groupId}/summary`, reportQuery(props, true)) : null;
  return (
    <>
      <div className="filters">
        <SelectFilter id="report-group" label={t('reports.group')} value={groupId} options={(groups.data ?? []).map((g) => [String(g.id), g.name])} onChange={(group) => props.setFilters({ group })} />
      </div>
      <ErrorAlert message={groups.error} />
      {groups.data?.length === 0 && <p className="muted">{t('reports.noGroups')}</p>}
      {path && (
        <ReportCard<GroupSummary> id="report-group-summary" title={t('reports.groupSummary')} path={path} window={props.window}>
          {(g) => {
            const max = Math.max(0, ...g.dwell_by_person.map((p) => p.total_dwell_seconds));
            return (
              <>
                <Counts
                  items={[
                    [t('reports.dwell'), f.duration(g.total_dwell_seconds)],
                    [t('reports.sessions'), f.number(g.total_sessions)],
                    [t('reports.people'), f.number(g.total_unique_people)],
                    [t('reports.firstSeen'), f.instant(g.first_session_at)],
                    [t('reports.lastSeen'), f.instant(g.last_session_at)],
                  ]}
                />
                <div className="report-grid">
                  <section aria-labelledby="group-gateways-title">
                    <h3 id="group-gateways-title">{t('reports.dwellByGateway')}</h3>
                    <DwellByDeviceTable rows={g.dwell_by_device} people />
                  </section>
                  <section aria-labelledby="group-people-title">
                    <h3 id="group-people-title">{t('reports.dwellByPerson')}</h3>
                    <DataTable
                      rows={g.dwell_by_person}
                      rowKey={(p) => p.person_id}
                      empty={t('reports.noData')}
                      columns={[
                        { header: t('reports.person'), cell: (p) => p.person_full_name },
                        { header: t('reports.sessions'), cell: (p) => f.number(p.sessions_count) },
                        { header: t('reports.dwell'), cell: (p) => <Meter value={p.total_dwell_seconds} max={max} text={f.duration(p.total_dwell_seconds)} /> },
                      ]}
                    />
                  </section>
                </div>
              </>
            );
          }}
        </ReportCard>
      )}
    </>
  );
}
