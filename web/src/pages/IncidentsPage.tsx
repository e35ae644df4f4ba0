import { useEffect, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { api } from '../api/client';
import { INCIDENT_KINDS, INCIDENT_STATUSES, SEVERITIES, type Incident } from '../api/types';
import { Card } from '../components/Card';
import { ErrorAlert } from '../components/ErrorAlert';
import { Page } from '../components/Page';
import { SelectFilter } from '../components/SelectFilter';
import { useLoad } from '../components/useLoad';
import { useNow } from '../components/useNow';
import { useI18n } from '../i18n/i18n';
import { StreamBadge } from '../map/StreamBadge';
import { IncidentDetail } from '../incidents/IncidentDetail';
import { IncidentList } from '../incidents/IncidentList';
import { ANY_ACTIVE, byUrgency, incidentsPath, matchesIncident, type IncidentFilter } from '../incidents/incidents';
import { useStatusLabel } from '../incidents/Badges';
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
  const choose = (key: keyof IncidentFilter) => (value: string) => setFilter({ ...filter, [key]: value });

  return (
    <Page title={t('nav.incidents')} tools={<StreamBadge state={stream.state} />}>
      <div className="desk-layout">
        <Card id="incident-queue" title={t('incidents.queue')} onRefresh={() => void list.reload()}>
          <div className="filters">
            <SelectFilter
              id="incidents-scope"
              label={t('incidents.scope')}
              value={filter.scope}
              options={[
                ['mine', t('incidents.scope.mine')],
                ['all', t('incidents.scope.all')],
              ]}
              onChange={choose('scope')}
            />
            <SelectFilter
              id="incidents-status"
              label={t('incidents.status')}
              value={filter.status}
              options={[[ANY_ACTIVE, t('incidents.active')], ...INCIDENT_STATUSES.map((s): [string, string] => [s, statusLabel(s)])]}
              onChange={choose('status')}
              any={t('incidents.anyStatus')}
            />
            <SelectFilter id="incidents-severity" label={t('incidents.severity')} value={filter.severity} options={SEVERITIES.map((s) => [s, t(`incidents.severity.${s}`)])} onChange={choose('severity')} any={t('incidents.anySeverity')} />
            <SelectFilter id="incidents-kind" label={t('incidents.kind')} value={filter.kind} options={INCIDENT_KINDS.map((k) => [k, k])} onChange={choose('kind')} any={t('incidents.anyKind')} />
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
