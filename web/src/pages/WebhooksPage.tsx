import { useState } from 'react';
import { api, collection, listPath } from '../api/client';
import { messageOf } from '../api/errors';
import type { Webhook, WebhookEventType } from '../api/types';
import { Card } from '../components/Card';
import { CrudSection, type Editor } from '../components/CrudSection';
import { DataTable, type Column } from '../components/DataTable';
import { SecretDialog } from '../components/SecretDialog';
import { ErrorAlert } from '../components/ErrorAlert';
import { JsonDetails } from '../components/JsonDetails';
import { Page } from '../components/Page';
import { useList, useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { ChatwootCard } from '../webhooks/ChatwootCard';
import { DeliveryLog } from '../webhooks/DeliveryLog';
import { newSecret, typeChoice, webhookBody, webhookFormValues } from '../webhooks/webhooks';

const WEBHOOKS = collection<Webhook>('/webhooks');

/** Outgoing webhook subscriptions, their delivery logs and Chatwoot's status (administrators only). */
export function WebhooksPage() {
  const { t } = useI18n();
  const webhooks = useList<Webhook>(listPath('/webhooks'));
  const eventTypes = useLoad(() => api.get<WebhookEventType[]>('/webhooks/event-types'));
  const known = eventTypes.data?.map((e) => e.event_type) ?? [];
  const [selectedId, setSelectedId] = useState<number | null>(null);
  // The answer that set a secret, the only time the appliance shows it.
  const [secret, setSecret] = useState<Webhook | null>(null);
  const [error, setError] = useState('');
  const selected = webhooks.data?.find((w) => w.id === selectedId) ?? null;

  async function rotate(w: Webhook) {
    if (!window.confirm(t('webhooks.confirmRotate', { name: w.name }))) return;
    try {
      setSecret(await WEBHOOKS.save({ secret_token: newSecret() }, w));
      setError('');
      void webhooks.reload();
    } catch (e) {
      setError(messageOf(e));
    }
  }

  const types = (w: Webhook) => {
    const choice = typeChoice(w);
    return choice.all ? t('webhooks.all') : choice.types.map((type) => <code key={type} className="block">{type}</code>);
  };
  const columns: Column<Webhook>[] = [
    { header: t('common.name'), cell: (w) => w.name },
    { header: t('webhooks.url'), cell: (w) => <code>{w.url}</code> },
    { header: t('webhooks.types'), cell: types },
    { header: t('common.active'), cell: (w) => (w.is_active ? t('common.yes') : t('common.no')) },
    { header: t('webhooks.signed'), cell: (w) => (w.has_secret ? t('common.yes') : t('common.no')) },
  ];
  const rowActions = (w: Webhook) => (
    <>
      <button type="button" onClick={() => setSelectedId(w.id)} aria-label={t('webhooks.deliveriesOf', { name: w.name })}>
        {t('webhooks.deliveries')}
      </button>
      <button type="button" onClick={() => rotate(w)} aria-label={`${t('webhooks.rotate')} ${w.name}`}>
        {t('webhooks.rotate')}
      </button>
    </>
  );
  const editor: Editor<Webhook> = {
    fields: (w) => [
      { name: 'name', label: 'common.name', kind: 'text', required: true },
      { name: 'url', label: 'webhooks.url', kind: 'text', required: true, autoComplete: 'off', hint: 'webhooks.urlHint' },
      { name: 'all_types', label: 'webhooks.allTypes', kind: 'checkbox' },
      { name: 'event_types', label: 'webhooks.chooseTypes', kind: 'checkboxes', options: known.map((type) => ({ value: type, label: type })), hint: 'webhooks.typesHint' },
      { name: 'secret_token', label: 'webhooks.secret', kind: 'password', autoComplete: 'new-password', hint: w ? 'webhooks.secretHintKeep' : 'webhooks.secretHintNew' },
      { name: 'is_active', label: 'common.active', kind: 'checkbox' },
    ],
    values: webhookFormValues,
    save: async (v, w) => {
      const saved = await WEBHOOKS.save(webhookBody(v, w, known, t('webhooks.pickType')), w);
      if (saved.secret_token) setSecret(saved);
    },
    remove: async (w) => {
      await WEBHOOKS.remove(w);
      if (w.id === selectedId) setSelectedId(null);
    },
  };

  return (
    <Page title={t('nav.webhooks')} intro={t('webhooks.intro')}>
      <ErrorAlert message={error || eventTypes.error} />
      <CrudSection<Webhook>
        id="webhooks"
        title={t('webhooks.title')}
        createLabel={t('webhooks.new')}
        list={webhooks}
        columns={columns}
        rowActions={rowActions}
        selectedId={selectedId}
        editor={editor}
      />
      {selected && <DeliveryLog key={selected.id} webhook={selected} />}
      <Card id="event-types" title={t('webhooks.chooseTypes')} help={t('webhooks.typesIntro')}>
        <DataTable
          rows={eventTypes.data}
          rowKey={(e) => e.event_type}
          columns={[
            { header: t('webhooks.eventType'), cell: (e) => <code>{e.event_type}</code> },
            { header: t('webhooks.sample'), cell: (e) => <JsonDetails summary={t('webhooks.showBody')} value={e.sample_payload} /> },
          ]}
        />
      </Card>
      <ChatwootCard />
      {secret?.secret_token && (
        <SecretDialog
          title={t('webhooks.secretTitle', { name: secret.name })}
          note={t('webhooks.secretOnce')}
          secret={secret.secret_token}
          testId="webhook-secret"
          onClose={() => setSecret(null)}
        />
      )}
    </Page>
  );
}
