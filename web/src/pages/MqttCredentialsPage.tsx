import { useState } from 'react';
import { api, collection } from '../api/client';
import { messageOf } from '../api/errors';
import { CREDENTIAL_ROLES, type MqttCredential } from '../api/types';
import { CrudSection, type Editor } from '../components/CrudSection';
import type { Column } from '../components/DataTable';
import { SecretDialog } from '../components/SecretDialog';
import { ErrorAlert } from '../components/ErrorAlert';
import { textOrNull, type FormValue } from '../components/form';
import { Page } from '../components/Page';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

/** One MQTT topic filter per line; empty means "the role's default rules". */
function aclLines(value: FormValue): string[] | null {
  const lines = typeof value === 'string' ? value.split('\n').map((l) => l.trim()).filter(Boolean) : [];
  return lines.length > 0 ? lines : null;
}

const CREDENTIALS = collection<MqttCredential>('/mqtt/credentials', 'patch');

/** MQTT credentials of gateways and collectors; secrets are shown once, when generated. */
export function MqttCredentialsPage() {
  const { t, ago } = useI18n();
  const credentials = useList<MqttCredential>('/mqtt/credentials');
  const [secret, setSecret] = useState<MqttCredential | null>(null);
  const [error, setError] = useState('');

  async function rotate(c: MqttCredential) {
    if (!window.confirm(t('mqtt.confirmRotate', { name: c.username }))) return;
    try {
      setSecret(await api.post<MqttCredential>(`/mqtt/credentials/${c.id}/rotate`));
      setError('');
    } catch (e) {
      setError(messageOf(e));
    }
  }

  const columns: Column<MqttCredential>[] = [
    { header: t('mqtt.username'), cell: (c) => <code>{c.username}</code> },
    { header: t('mqtt.role'), cell: (c) => c.role },
    { header: t('common.active'), cell: (c) => (c.is_active ? t('common.yes') : t('mqtt.revoked')) },
    { header: t('mqtt.publish'), cell: (c) => c.publish_acl.join(', ') || '—' },
    { header: t('mqtt.lastConnected'), cell: (c) => ago(c.last_connected_at) },
  ];
  const rotateButton = (c: MqttCredential) => (
    <button type="button" onClick={() => rotate(c)} aria-label={`${t('mqtt.rotate')} ${c.username}`}>
      {t('mqtt.rotate')}
    </button>
  );
  const editor: Editor<MqttCredential> = {
    // The user name and role are chosen once; only an existing credential can be revoked.
    fields: (c) => [
      ...(c
        ? []
        : ([
            { name: 'username', label: 'mqtt.username', kind: 'text', required: true, autoComplete: 'off' },
            { name: 'role', label: 'mqtt.role', kind: 'select', options: CREDENTIAL_ROLES.map((r) => ({ value: r, label: r })) },
            { name: 'password', label: 'devices.password', kind: 'password', autoComplete: 'new-password', hint: 'mqtt.passwordHint' },
          ] as const)),
      { name: 'description', label: 'common.description', kind: 'text' },
      { name: 'publish_acl', label: 'mqtt.publish', kind: 'textarea', hint: 'mqtt.aclHint' },
      { name: 'subscribe_acl', label: 'mqtt.subscribe', kind: 'textarea', hint: 'mqtt.aclHint' },
      ...(c ? ([{ name: 'is_active', label: 'common.active', kind: 'checkbox' }] as const) : []),
    ],
    values: (c) => ({ role: 'GATEWAY', publish_acl: c?.publish_acl.join('\n') ?? '', subscribe_acl: c?.subscribe_acl.join('\n') ?? '' }),
    save: async (v, c) => {
      if (c) {
        // Emptied rule lists are left out (kept as they are) rather than sent as "no rules".
        const changes = {
          description: textOrNull(v.description),
          publish_acl: aclLines(v.publish_acl) ?? undefined,
          subscribe_acl: aclLines(v.subscribe_acl) ?? undefined,
          is_active: v.is_active,
        };
        return CREDENTIALS.save(changes, c);
      }
      const body = {
        username: v.username,
        role: v.role,
        password: textOrNull(v.password),
        description: textOrNull(v.description),
        publish_acl: aclLines(v.publish_acl),
        subscribe_acl: aclLines(v.subscribe_acl),
      };
      const created = await CREDENTIALS.save(body, null);
      if (created.password) setSecret(created);
    },
    remove: CREDENTIALS.remove,
  };

  return (
    <Page title={t('nav.mqtt')} intro={t('mqtt.intro')}>
      <ErrorAlert message={error} />
      <CrudSection<MqttCredential>
        id="mqtt"
        title={t('mqtt.title')}
        createLabel={t('mqtt.new')}
        list={credentials}
        describe={(c) => c.username}
        columns={columns}
        rowActions={rotateButton}
        editor={editor}
      />
      {secret?.password && (
        <SecretDialog
          title={t('mqtt.secretTitle', { name: secret.username })}
          note={t('mqtt.secretOnce')}
          secret={secret.password}
          testId="mqtt-secret"
          onClose={() => setSecret(null)}
        />
      )}
    </Page>
  );
}
