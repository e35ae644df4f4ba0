import { useState } from 'react';
import { api, listPath } from '../api/client';
import type { Device, Person, Tag, UnknownTag } from '../api/types';
import { CrudSection } from '../components/CrudSection';
import { Dialog } from '../components/Dialog';
import { EntityForm } from '../components/EntityForm';
import { asText, idOrNull, textOrNull, type FieldSpec, type FormValues } from '../components/form';
import { useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

function tagBody(v: FormValues) {
  return { mac_address: v.mac_address, label: textOrNull(v.label), person_id: idOrNull(v.person_id), active: v.active, notes: textOrNull(v.notes) };
}

/** BLE tags, who carries them, and the tags heard but not registered yet. */
export function TagsPage() {
  const { t, ago } = useI18n();
  const tags = useLoad(() => api.get<Tag[]>(listPath('/tags')));
  const people = useLoad(() => api.get<Person[]>(listPath('/people')));
  const unknown = useLoad(() => api.get<UnknownTag[]>('/tags/unknown'));
  const gateways = useLoad(() => api.get<Device[]>(listPath('/devices', { type: 'BLE_GATEWAY' })));
  const [registering, setRegistering] = useState<UnknownTag | null>(null);

  // The server forgets an unknown tag shortly after it is registered; hide it right away.
  const registered = new Set((tags.data ?? []).map((tag) => tag.mac_address.toUpperCase()));
  const stillUnknown = unknown.data?.filter((u) => !registered.has(u.mac_address.toUpperCase())) ?? null;
  const personName = (id: number | null) => people.data?.find((p) => p.id === id)?.full_name ?? '—';
  const fields: FieldSpec[] = [
    { name: 'mac_address', label: 'tags.mac', kind: 'text', required: true, hint: 'tags.macHint' },
    { name: 'label', label: 'tags.label', kind: 'text' },
    {
      name: 'person_id',
      label: 'tags.person',
      kind: 'select',
      emptyOption: t('tags.nobody'),
      options: (people.data ?? []).map((p) => ({ value: String(p.id), label: p.full_name })),
    },
    { name: 'active', label: 'common.active', kind: 'checkbox' },
    { name: 'notes', label: 'common.notes', kind: 'textarea' },
  ];
  const toValues = (tag: Partial<Tag> | null): FormValues => ({
    mac_address: asText(tag?.mac_address),
    label: asText(tag?.label),
    person_id: asText(tag?.person_id),
    active: tag?.active ?? true,
    notes: asText(tag?.notes),
  });
  const reloadAll = () => {
    void tags.reload();
    void unknown.reload();
  };

  return (
    <div className="page">
      <header className="page-header">
        <h1>{t('nav.tags')}</h1>
      </header>
      <CrudSection<Tag>
        id="tags"
        title={t('tags.title')}
        createLabel={t('tags.new')}
        rows={tags.data}
        loadError={tags.error}
        onChanged={reloadAll}
        describe={(tag) => tag.label ?? tag.mac_address}
        columns={[
          { header: t('tags.mac'), cell: (tag) => <code>{tag.mac_address}</code> },
          { header: t('tags.label'), cell: (tag) => tag.label ?? '—' },
          { header: t('tags.person'), cell: (tag) => personName(tag.person_id) },
          { header: t('common.active'), cell: (tag) => (tag.active ? t('common.yes') : t('common.no')) },
        ]}
        fields={() => fields}
        toValues={toValues}
        save={(v, tag) => (tag ? api.put(`/tags/${tag.id}`, tagBody(v)) : api.post('/tags', tagBody(v)))}
        remove={(tag) => api.delete(`/tags/${tag.id}`)}
      />
      <section className="card" aria-labelledby="unknown-title">
        <header className="card-header">
          <h2 id="unknown-title">{t('tags.unknownTitle')}</h2>
          <button type="button" onClick={() => void unknown.reload()}>
            {t('common.refresh')}
          </button>
        </header>
        <p className="muted">{t('tags.unknownHelp')}</p>
        {!stillUnknown || stillUnknown.length === 0 ? (
          <p className="muted">{stillUnknown ? t('common.empty') : t('common.loading')}</p>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('tags.mac')}</th>
                  <th scope="col">{t('tags.lastGateway')}</th>
                  <th scope="col">RSSI</th>
                  <th scope="col">{t('tags.timesHeard')}</th>
                  <th scope="col">{t('map.lastSeen')}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t('common.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {stillUnknown.map((u) => (
                  <tr key={u.mac_address}>
                    <td>
                      <code>{u.mac_address}</code>
                    </td>
                    <td>{gateways.data?.find((g) => g.id === u.last_gateway_id)?.name ?? `#${u.last_gateway_id}`}</td>
                    <td>{u.last_rssi ?? '—'}</td>
                    <td>{u.times_heard}</td>
                    <td>{ago(u.last_heard_at)}</td>
                    <td className="row-actions">
                      <button type="button" className="primary" onClick={() => setRegistering(u)} aria-label={`${t('tags.register')} ${u.mac_address}`}>
                        {t('tags.register')}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {registering && (
        <Dialog title={`${t('tags.register')} ${registering.mac_address}`} onClose={() => setRegistering(null)}>
          <EntityForm
            idPrefix="register"
            fields={fields}
            initial={toValues({ mac_address: registering.mac_address })}
            submitLabel={t('tags.register')}
            onCancel={() => setRegistering(null)}
            onSubmit={async (v) => {
              await api.post('/tags', tagBody(v));
              setRegistering(null);
              reloadAll();
            }}
          />
        </Dialog>
      )}
    </div>
  );
}
