import { useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import { DELIVERY_STATUSES, type Webhook, type WebhookDelivery } from '../api/types';
import { Card } from '../components/Card';
import { DataTable } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { JsonDetails } from '../components/JsonDetails';
import { Moment } from '../components/Moment';
import { SelectFilter } from '../components/SelectFilter';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { DELIVERY_LIMIT, deliveriesPath } from './webhooks';

const BADGE: Record<string, string> = { DELIVERED: 'ok', FAILED: 'off', PENDING: 'pending' };

/** A subscription's deliveries (newest first, by status), with re-send and a test event. */
export function DeliveryLog({ webhook }: { webhook: Webhook }) {
  const { t, language } = useI18n();
  const [status, setStatus] = useState('');
  const deliveries = useList<WebhookDelivery>(deliveriesPath(webhook.id, status));
  const [notice, setNotice] = useState('');
  const [error, setError] = useState('');
  const locale = language === 'pt' ? 'pt-BR' : 'en';

  /** Queues a delivery (a test event or a copy), then shows the log with it. */
  async function queue(path: string) {
    try {
      await api.post<WebhookDelivery>(path);
      setError('');
      setNotice(t('webhooks.queued'));
      await deliveries.reload();
    } catch (e) {
      setNotice('');
      setError(messageOf(e));
    }
  }

  const statusLabel = (s: string) => ((DELIVERY_STATUSES as string[]).includes(s) ? t(`webhooks.status.${s as (typeof DELIVERY_STATUSES)[number]}`) : s);
  const lastResult = (d: WebhookDelivery) =>
    d.last_status_code === null && !d.last_error ? (
      '—'
    ) : (
      <>
        {d.last_status_code !== null && <code>HTTP {d.last_status_code}</code>}
        {d.last_error && <small className="block delivery-error">{d.last_error}</small>}
      </>
    );

  return (
    <Card
      id="deliveries"
      title={t('webhooks.deliveriesOf', { name: webhook.name })}
      help={t('webhooks.deliveriesHelp', { n: DELIVERY_LIMIT })}
      onRefresh={() => {
        setNotice('');
        void deliveries.reload();
      }}
    >
      <div className="filters">
        <SelectFilter id="deliveries-status" label={t('webhooks.status')} value={status} options={DELIVERY_STATUSES.map((s) => [s, statusLabel(s)])} onChange={setStatus} any={t('webhooks.anyStatus')} />
        <div className="form-actions">
          <button type="button" onClick={() => queue(`/webhooks/${webhook.id}/test`)}>
            {t('webhooks.sendTest')}
          </button>
        </div>
      </div>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorAlert message={error || deliveries.error} />
      <DataTable
        className="deliveries-table"
        rows={deliveries.data}
        rowKey={(d) => d.id}
        rowProps={(d) => ({ 'data-delivery-id': d.delivery_id })}
        empty={t('webhooks.noDeliveries')}
        columns={[
          { header: t('webhooks.when'), cell: (d) => <Moment at={d.created_at} /> },
          {
            header: t('webhooks.eventType'),
            // The id is the X-SV-Delivery header: what a receiver's logs know the delivery by.
            cell: (d) => (
              <>
                <code>{d.event_type}</code>
                <small className="muted block delivery-id">{d.delivery_id}</small>
              </>
            ),
          },
          { header: t('webhooks.status'), cell: (d) => <span className={`badge ${BADGE[d.status] ?? ''}`}>{statusLabel(d.status)}</span> },
          { header: t('webhooks.attempts'), cell: (d) => d.attempts },
          { header: t('webhooks.lastResult'), cell: lastResult },
          { header: t('webhooks.nextTry'), cell: (d) => (d.next_attempt_at ? <time dateTime={d.next_attempt_at}>{new Date(d.next_attempt_at).toLocaleString(locale)}</time> : '—') },
          { header: t('webhooks.body'), cell: (d) => <JsonDetails summary={t('webhooks.showBody')} value={d.body} /> },
        ]}
        actions={(d) => (
          <button type="button" onClick={() => queue(`/webhooks/${webhook.id}/deliveries/${d.id}/resend`)} aria-label={`${t('webhooks.resend')} ${d.event_type} ${d.delivery_id}`}>
            {t('webhooks.resend')}
          </button>
        )}
      />
    </Card>
  );
}
