import { useEffect, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { api } from '../api/client';
import { INCIDENT_KINDS, INCIDENT_STATUSES, SEVERITIES, type Incident } from '../api/types';
import { Card } from '../components/Card';
import { ErrorAlert } from '../components/ErrorAlert';
import { Page } from '../components/Page';
import { useLoad } from '../components/useLoad';
import { useNow } from '../components/useNow';
import { useI18n } from '../i18n/i18n';
import { StreamBadge } from '../map/StreamBadge';
import { IncidentDetail } from '../incidents/IncidentDetail';
import { IncidentList } from '../incidents/IncidentList';
import { ANY_ACTIVE, byUrgency, incidentsPath, matchesIncident, type IncidentFilter } from '../incidents/incidents';
import { useStatusLabel } from '../incidents/SlaBadge';
import { useAssignables } from '../incidents/useAssignables';
import { useIncidentStream } from '../incidents/useIncidentStream';

/** The incident desk (/incidents, /incidents/:id): the queue and the selected incident. */
export function IncidentsPage() {
  const { t } = useI18n();
  const statusLabel = useStatusLabel();
  const navigate = useNavigate();
  const selectedId = Number(useParams().id) || null;
  const [filter, setFilter] = useState<IncidentFilter>({ scope: 'mine', status: ANY_ACTIVE, severity: '', kind: '' });
  const now = useNow(1000);
  const list = useLoad(() => api.get<Incident[]>(incidentsPath(filter)), [incidentsPath(filter)]);
  const selected = useLoad(() => (selectedId ? api.get<Incident>(`/incidents/${selectedId}`) : Promise.resolve(null)), [selectedId]);
  const stream = useIncidentStream(() => {
    void list.reload();
    void selected.reload();
  });
  const assignables = useAssignables();

  // A new or changed incident: the queue and the open incident follow.
  useEffect(() => {
    if (!stream.notice || stream.notice.type === 'INCIDENT_MESSAGE_CREATED') return;
    void list.reload();
    if (stream.notice.incidentId === selectedId) void selected.reload();
  }, [stream.notice?.seq]);

  const rows = list.data?.filter((i) => matchesIncident(i, filter)).sort(byUrgency(now)) ?? null;
  const set = (key: keyof IncidentFilter) => (e: React.ChangeEvent<HTMLSelectElement>) => setFilter({ ...filter, [key]: e.target.value });
  const choice = (id: string, label: string, key: keyof IncidentFilter, options: [string, string][], any?: string) => (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={filter[key]} onChange={set(key)}>
        {any !== undefined && <option value="">{any}</option>}
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    </div>
  );

  return (
    <Page title={t('nav.incidents')} tools={<StreamBadge state={stream.state} />}>
      <div className="desk-layout">
        <Card id="incident-queue" title={t('incidents.queue')} onRefresh={() => void list.reload()}>
          <div className="filters">
            {choice('incidents-scope', t('incidents.scope'), 'scope', [
              ['mine', t('incidents.scope.mine')],
              ['all', t('incidents.scope.all')],
            ])}
            {choice('incidents-status', t('incidents.status'), 'status', [[ANY_ACTIVE, t('incidents.active')], ...INCIDENT_STATUSES.map((s): [string, string] => [s, statusLabel(s)])], t('incidents.anyStatus'))}
            {choice('incidents-severity', t('incidents.severity'), 'severity', SEVERITIES.map((s) => [s, t(`incidents.severity.${s}`)]), t('incidents.anySeverity'))}
            {choice('incidents-kind', t('incidents.kind'), 'kind', INCIDENT_KINDS.map((k) => [k, k]), t('incidents.anyKind'))}
          </div>
          <ErrorAlert message={list.error} />
          <IncidentList rows={rows} now={now} selectedId={selectedId} onOpen={(i) => navigate(`/incidents/${i.id}`)} />
        </Card>
        {selectedId &&
          (selected.error ? (
            <ErrorAlert message={selected.error} />
          ) : selected.data ? (
            <IncidentDetail
              key={selected.data.id}
              incident={selected.data}
              now={now}
              notice={stream.notice}
              streamLive={stream.state === 'live'}
              assignables={assignables}
              onChanged={() => {
                void selected.reload();
                void list.reload();
              }}
            />
          ) : (
            <p className="muted">{t('common.loading')}</p>
          ))}
      </div>
    </Page>
  );
}
