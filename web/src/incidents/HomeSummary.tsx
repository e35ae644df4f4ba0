import { useEffect } from 'react';
import { useNavigate } from 'react-router';
import { api, listPath } from '../api/client';
import type { DashboardSummary, Incident } from '../api/types';
import { Card } from '../components/Card';
import { ErrorAlert } from '../components/ErrorAlert';
import { useLoad } from '../components/useLoad';
import { useNow } from '../components/useNow';
import { useI18n } from '../i18n/i18n';
import type { MessageKey } from '../i18n/i18n';
import { IncidentList } from './IncidentList';
import { byUrgency } from './incidents';
import { useIncidentStream } from './useIncidentStream';

const COUNTS: [keyof DashboardSummary, MessageKey][] = [
  ['open_incidents', 'home.openIncidents'],
  ['overdue_incidents', 'home.overdueIncidents'],
  ['total_people', 'home.people'],
  ['total_tags', 'home.tags'],
  ['gateways_online', 'home.gatewaysOnline'],
  ['gateways_offline', 'home.gatewaysOffline'],
  ['active_alert_rules', 'home.activeRules'],
  ['recent_alerts_24h', 'home.alerts24h'],
];

/** How many of my open incidents the home page lists, most urgent first. */
const MY_LIMIT = 20;

/** The home page's counts and my open incidents, following incident changes live. */
export function HomeSummary() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const now = useNow(1000);
  const summary = useLoad(() => api.get<DashboardSummary>('/dashboard/summary'));
  const mine = useLoad(() => api.get<Incident[]>(listPath('/incidents/my', { only_open: 'true', limit: MY_LIMIT })));
  const reload = () => {
    void summary.reload();
    void mine.reload();
  };
  const stream = useIncidentStream(reload);
  // Messages change neither the counts nor the list; new and changed incidents do.
  const key = stream.notice && stream.notice.type !== 'INCIDENT_MESSAGE_CREATED' ? stream.notice.seq : 0;
  useEffect(() => {
    if (key) reload();
  }, [key]);

  return (
    <div className="home-summary">
      <Card id="summary" title={t('home.summary')} onRefresh={reload}>
        <ErrorAlert message={summary.error} />
        <dl className="counts">
          {COUNTS.map(([field, label]) => (
            <div key={field}>
              <dt>{t(label)}</dt>
              <dd data-count={field}>{summary.data?.[field] ?? '—'}</dd>
            </div>
          ))}
        </dl>
      </Card>
      <Card id="my-incidents" title={t('home.myIncidents')}>
        <ErrorAlert message={mine.error} />
        <IncidentList rows={mine.data ? [...mine.data].sort(byUrgency(now)) : null} now={now} onOpen={(i) => navigate(`/incidents/${i.id}`)} empty={t('home.noIncidents')} />
      </Card>
    </div>
  );
}
