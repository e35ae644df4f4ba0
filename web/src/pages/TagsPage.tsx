import { useState } from 'react';
import { collection, listPath } from '../api/client';
import type { Device, Person, Tag, UnknownTag } from '../api/types';
import { Card } from '../components/Card';
import { CrudSection, type Editor } from '../components/CrudSection';
import { DataTable, type Column } from '../components/DataTable';
import { FormDialog } from '../components/FormDialog';
import { formValues, idOrNull, textOrNull, type FieldSpec, type FormValues } from '../components/form';
import { Page } from '../components/Page';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

const TAGS = collection<Tag>('/tags');

function tagBody(v: FormValues) {
  return { mac_address: v.mac_address, label: textOrNull(v.label), person_id: idOrNull(v.person_id), active: v.active, notes: textOrNull(v.notes) };
}

/** BLE tags, who carries them, and the tags heard but not registered yet. */
export function TagsPage() {
  const { t, ago } = useI18n();
  const tags = useList<Tag>(listPath('/tags'));
  const people = useList<Person>(listPath('/people'));
  const unknown = useList<UnknownTag>('/tags/unknown');
  const gateways = useList<Device>(listPath('/devices', { type: 'BLE_GATEWAY' }));
  const [registering, setRegistering] = useState<UnknownTag | null>(null);

  // The server forgets an unknown tag shortly after it is registered; hide it right away.
  const registered = new Set((tags.data ?? []).map((tag) => tag.mac_address.toUpperCase()));
  const stillUnknown = unknown.data?.filter((u) => !registered.has(u.mac_address.toUpperCase())) ?? null;
  const personName = (id: number | null) => people.data?.find((p) => p.id === id)?.full_name ?? '—';
  const gatewayName = (id: number) => gateways.data?.find((g) => g.id === id)?.name ?? `#${id}`;
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
  const columns: Column<Tag>[] = [
    { header: t('tags.mac'), cell: (tag) => <code>{tag.mac_address}</code> },
    { header: t('tags.label'), cell: (tag) => tag.label ?? '—' },
    { header: t('tags.person'), cell: (tag) => personName(tag.person_id) },
    { header: t('common.active'), cell: (tag) => (tag.active ? t('common.yes') : t('common.no')) },
  ];
  const editor: Editor<Tag> = { fields: () => fields, save: (v, tag) => TAGS.save(tagBody(v), tag), remove: TAGS.remove };

  return (
    <Page title={t('nav.tags')}>
      <CrudSection<Tag>
        id="tags"
        title={t('tags.title')}
        createLabel={t('tags.new')}
        list={tags}
        onChanged={unknown.reload}
        describe={(tag) => tag.label ?? tag.mac_address}
        columns={columns}
        editor={editor}
      />
      <Card
        id="unknown"
        title={t('tags.unknownTitle')}
        help={t('tags.unknownHelp')}
        onRefresh={() => void unknown.reload()}
      >
        <DataTable
          rows={stillUnknown}
          rowKey={(u) => u.mac_address}
          columns={[
            { header: t('tags.mac'), cell: (u) => <code>{u.mac_address}</code> },
            { header: t('tags.lastGateway'), cell: (u) => gatewayName(u.last_gateway_id) },
            { header: 'RSSI', cell: (u) => u.last_rssi ?? '—' },
            { header: t('tags.timesHeard'), cell: (u) => u.times_heard },
            { header: t('map.lastSeen'), cell: (u) => ago(u.last_heard_at) },
          ]}
          actions={(u) => (
            <button type="button" className="primary" onClick={() => setRegistering(u)} aria-label={`${t('tags.register')} ${u.mac_address}`}>
              {t('tags.register')}
            </button>
          )}
        />
      </Card>
      {registering && (
        <FormDialog
          title={`${t('tags.register')} ${registering.mac_address}`}
          idPrefix="register"
          fields={fields}
          initial={formValues(fields, { mac_address: registering.mac_address })}
          submitLabel={t('tags.register')}
          onClose={() => setRegistering(null)}
          onSubmit={async (v) => {
            await TAGS.save(tagBody(v), null);
            void tags.reload();
            void unknown.reload();
          }}
        />
      )}
    </Page>
  );
}
