import { useState } from 'react';
import { api } from '../api/client';
import { ALERT_STATUSES, type AlertEvent, type AlertRule, type AlertStatus, type Id } from '../api/types';
import { Card } from '../components/Card';
import { DataTable } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { FormDialog } from '../components/FormDialog';
import { SelectFilter } from '../components/SelectFilter';
import { textOrNull } from '../components/form';
import { useI18n } from '../i18n/i18n';
import { StreamBadge } from '../map/StreamBadge';
import { NO_FILTER, RULE_TYPES, zoneOf, type EventFilter } from './alerts';
import { useLiveAlerts } from './useLiveAlerts';

const BADGE: Record<AlertStatus, string> = { open: 'off', acknowledged: 'pending', resolved: 'ok' };

interface Step {
  event: AlertEvent;
  action: 'ack' | 'resolve';
}

/** The alert events, live, with the operators' acknowledge and resolve. */
export function AlertEventsCard({ rules, personName }: { rules: AlertRule[]; personName: (id: Id) => string }) {
  const { t, ago, language } = useI18n();
  const [filter, setFilter] = useState<EventFilter>({ ...NO_FILTER, status: 'open' });
  const alerts = useLiveAlerts(filter);
  const [step, setStep] = useState<Step | null>(null);
  const locale = language === 'pt' ? 'pt-BR' : 'en';
  const ruleName = (id: Id | null) => rules.find((r) => r.id === id)?.name ?? (id === null ? '—' : `#${id}`);
  const statusLabel = (s: AlertStatus) => t(`alerts.status.${s}`);
  const where = (e: AlertEvent) => {
    const zone = zoneOf(e);
    return zone ? `${t('alerts.zone')}: ${zone.name ?? `#${zone.id}`}` : e.device_id !== null ? `${t('alerts.device')} #${e.device_id}` : '—';
  };
  const choose = (key: keyof EventFilter) => (value: string) => setFilter({ ...filter, [key]: value });

  return (
    <Card id="alert-events" title={t('alerts.events')} tools={<StreamBadge state={alerts.streamState} />} onRefresh={() => void alerts.reload()}>
      <div className="filters">
        <SelectFilter id="alert-events-status" label={t('alerts.state')} value={filter.status} options={ALERT_STATUSES.map((s) => [s, statusLabel(s)])} onChange={choose('status')} any={t('alerts.anyState')} />
        <SelectFilter id="alert-events-rule" label={t('alerts.rule')} value={filter.ruleId} options={rules.map((r) => [String(r.id), r.name])} onChange={choose('ruleId')} any={t('alerts.anyRule')} />
        <SelectFilter id="alert-events-type" label={t('alerts.type')} value={filter.eventType} options={RULE_TYPES.map((type) => [type, t(`alerts.type.${type}`)])} onChange={choose('eventType')} any={t('alerts.anyType')} />
      </div>
      <ErrorAlert message={alerts.error} />
      <DataTable
        className="alert-events-table"
        rows={alerts.events}
        rowKey={(e) => e.id}
        rowProps={(e) => ({ 'data-alert-id': e.id, className: `alert-${e.status}` })}
        empty={t('alerts.noEvents')}
        columns={[
          {
            header: t('alerts.started'),
            cell: (e) => (
              <>
                <time dateTime={e.started_at}>{ago(e.started_at)}</time>
                <small className="muted block">{new Date(e.started_at).toLocaleString(locale)}</small>
              </>
            ),
          },
          { header: t('alerts.type'), cell: (e) => <code>{e.event_type}</code> },
          {
            header: t('alerts.message'),
            cell: (e) => (
              <>
                {e.message ?? '—'}
                <small className="muted block">{ruleName(e.rule_id)}</small>
              </>
            ),
          },
          { header: t('alerts.person'), cell: (e) => (e.person_id === null ? '—' : personName(e.person_id)) },
          { header: t('alerts.where'), cell: where },
          { header: t('alerts.session'), cell: (e) => (e.is_open ? t('alerts.ongoing') : t('alerts.ended', { when: ago(e.ended_at) })) },
          {
            header: t('alerts.state'),
            cell: (e) => (
              <>
                <span className={`badge ${BADGE[e.status]}`}>{statusLabel(e.status)}</span>
                {(e.resolved_note ?? e.acknowledged_note) && <small className="block">{e.resolved_note ?? e.acknowledged_note}</small>}
              </>
            ),
          },
        ]}
        actions={(e) => (
          <>
            {e.status === 'open' && (
              <button type="button" onClick={() => setStep({ event: e, action: 'ack' })} aria-label={`${t('alerts.acknowledge')} #${e.id}`}>
                {t('alerts.acknowledge')}
              </button>
            )}
            {e.status !== 'resolved' && (
              <button type="button" onClick={() => setStep({ event: e, action: 'resolve' })} aria-label={`${t('alerts.resolve')} #${e.id}`}>
                {t('alerts.resolve')}
              </button>
            )}
          </>
        )}
      />
      {step && (
        <FormDialog
          title={`${t(step.action === 'ack' ? 'alerts.acknowledge' : 'alerts.resolve')}: ${step.event.message ?? `#${step.event.id}`}`}
          idPrefix="alert-step"
          fields={[{ name: 'note', label: 'alerts.note', kind: 'textarea' }]}
          initial={{ note: '' }}
          submitLabel={t(step.action === 'ack' ? 'alerts.acknowledge' : 'alerts.resolve')}
          onClose={() => setStep(null)}
          onSubmit={async (v) => {
            alerts.put(await api.post<AlertEvent>(`/alert-events/${step.event.id}/${step.action}`, { note: textOrNull(v.note) }));
          }}
        />
      )}
    </Card>
  );
}
