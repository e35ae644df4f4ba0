import { api, listPath } from '../api/client';
import type { Person, PersonGroup } from '../api/types';
import { CrudSection } from '../components/CrudSection';
import { asText, ids, textOrNull } from '../components/form';
import { useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

/** People (with their groups) and the person groups themselves. */
export function PeoplePage() {
  const { t } = useI18n();
  const people = useLoad(() => api.get<Person[]>(listPath('/people')));
  const groups = useLoad(() => api.get<PersonGroup[]>(listPath('/person-groups')));
  const groupOptions = (groups.data ?? []).map((g) => ({ value: String(g.id), label: g.name }));

  return (
    <div className="page">
      <header className="page-header">
        <h1>{t('nav.people')}</h1>
      </header>
      <CrudSection<Person>
        id="people"
        title={t('people.title')}
        createLabel={t('people.new')}
        rows={people.data}
        loadError={people.error}
        onChanged={people.reload}
        describe={(p) => p.full_name}
        columns={[
          { header: t('common.name'), cell: (p) => p.full_name },
          { header: t('people.document'), cell: (p) => p.document_id ?? '—' },
          { header: t('people.groups'), cell: (p) => p.groups.map((g) => g.name).join(', ') || '—' },
          { header: t('common.active'), cell: (p) => (p.active ? t('common.yes') : t('common.no')) },
        ]}
        fields={() => [
          { name: 'full_name', label: 'people.fullName', kind: 'text', required: true },
          { name: 'document_id', label: 'people.document', kind: 'text' },
          { name: 'email', label: 'common.email', kind: 'email' },
          { name: 'phone', label: 'people.phone', kind: 'text' },
          { name: 'group_ids', label: 'people.groups', kind: 'checkboxes', options: groupOptions },
          { name: 'active', label: 'common.active', kind: 'checkbox' },
          { name: 'notes', label: 'common.notes', kind: 'textarea' },
        ]}
        toValues={(p) => ({
          full_name: asText(p?.full_name),
          document_id: asText(p?.document_id),
          email: asText(p?.email),
          phone: asText(p?.phone),
          group_ids: p?.groups.map((g) => String(g.id)) ?? [],
          active: p?.active ?? true,
          notes: asText(p?.notes),
        })}
        save={(v, p) => {
          const body = {
            full_name: v.full_name,
            document_id: textOrNull(v.document_id),
            email: textOrNull(v.email),
            phone: textOrNull(v.phone),
            group_ids: ids(v.group_ids),
            active: v.active,
            notes: textOrNull(v.notes),
          };
          return p ? api.put(`/people/${p.id}`, body) : api.post('/people', body);
        }}
        remove={(p) => api.delete(`/people/${p.id}`)}
      />
      <CrudSection<PersonGroup>
        id="groups"
        title={t('groups.title')}
        createLabel={t('groups.new')}
        rows={groups.data}
        loadError={groups.error}
        onChanged={() => {
          void groups.reload();
          void people.reload();
        }}
        describe={(g) => g.name}
        columns={[
          { header: t('common.name'), cell: (g) => g.name },
          { header: t('common.description'), cell: (g) => g.description ?? '—' },
          { header: t('groups.members'), cell: (g) => (people.data ?? []).filter((p) => p.groups.some((pg) => pg.id === g.id)).length },
        ]}
        fields={() => [
          { name: 'name', label: 'common.name', kind: 'text', required: true },
          { name: 'description', label: 'common.description', kind: 'textarea' },
          {
            name: 'people_ids',
            label: 'groups.members',
            kind: 'checkboxes',
            options: (people.data ?? []).map((p) => ({ value: String(p.id), label: p.full_name })),
          },
        ]}
        toValues={(g) => ({
          name: asText(g?.name),
          description: asText(g?.description),
          people_ids: g ? (people.data ?? []).filter((p) => p.groups.some((pg) => pg.id === g.id)).map((p) => String(p.id)) : [],
        })}
        save={async (v, g) => {
          const body = { name: v.name, description: textOrNull(v.description) };
          const saved = g ? await api.put<PersonGroup>(`/person-groups/${g.id}`, body) : await api.post<PersonGroup>('/person-groups', body);
          // Membership is replaced as a whole by the server, in one request.
          await api.put(`/person-groups/${saved.id}/people`, { people_ids: ids(v.people_ids) });
        }}
        remove={(g) => api.delete(`/person-groups/${g.id}`)}
      />
    </div>
  );
}
