import { api, collection, listPath } from '../api/client';
import type { Person, PersonGroup } from '../api/types';
import { CrudSection, type Editor } from '../components/CrudSection';
import type { Column } from '../components/DataTable';
import { ids, textOrNull } from '../components/form';
import { Page } from '../components/Page';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

const PEOPLE = collection<Person>('/people');
const GROUPS = collection<PersonGroup>('/person-groups');

/** People (with their groups) and the person groups themselves. */
export function PeoplePage() {
  const { t } = useI18n();
  const people = useList<Person>(listPath('/people'));
  const groups = useList<PersonGroup>(listPath('/person-groups'));
  const membersOf = (g: PersonGroup) => (people.data ?? []).filter((p) => p.groups.some((pg) => pg.id === g.id));

  const personColumns: Column<Person>[] = [
    { header: t('common.name'), cell: (p) => p.full_name },
    { header: t('people.document'), cell: (p) => p.document_id ?? '—' },
    { header: t('people.groups'), cell: (p) => p.groups.map((g) => g.name).join(', ') || '—' },
    { header: t('common.active'), cell: (p) => (p.active ? t('common.yes') : t('common.no')) },
  ];
  const personEditor: Editor<Person> = {
    fields: () => [
      { name: 'full_name', label: 'people.fullName', kind: 'text', required: true },
      { name: 'document_id', label: 'people.document', kind: 'text' },
      { name: 'email', label: 'common.email', kind: 'email' },
      { name: 'phone', label: 'people.phone', kind: 'text' },
      { name: 'group_ids', label: 'people.groups', kind: 'checkboxes', options: (groups.data ?? []).map((g) => ({ value: String(g.id), label: g.name })) },
      { name: 'active', label: 'common.active', kind: 'checkbox' },
      { name: 'notes', label: 'common.notes', kind: 'textarea' },
    ],
    values: (p) => ({ group_ids: p?.groups.map((g) => String(g.id)) ?? [] }),
    save: (v, p) => {
      const body = {
        full_name: v.full_name,
        document_id: textOrNull(v.document_id),
        email: textOrNull(v.email),
        phone: textOrNull(v.phone),
        group_ids: ids(v.group_ids),
        active: v.active,
        notes: textOrNull(v.notes),
      };
      return PEOPLE.save(body, p);
    },
    remove: PEOPLE.remove,
  };

  const groupColumns: Column<PersonGroup>[] = [
    { header: t('common.name'), cell: (g) => g.name },
    { header: t('common.description'), cell: (g) => g.description ?? '—' },
    { header: t('groups.members'), cell: (g) => membersOf(g).length },
  ];
  const groupEditor: Editor<PersonGroup> = {
    fields: () => [
      { name: 'name', label: 'common.name', kind: 'text', required: true },
      { name: 'description', label: 'common.description', kind: 'textarea' },
      { name: 'people_ids', label: 'groups.members', kind: 'checkboxes', options: (people.data ?? []).map((p) => ({ value: String(p.id), label: p.full_name })) },
    ],
    values: (g) => ({ people_ids: g ? membersOf(g).map((p) => String(p.id)) : [] }),
    save: async (v, g) => {
      const saved = await GROUPS.save({ name: v.name, description: textOrNull(v.description) }, g);
      // Membership is replaced as a whole by the server, in one request.
      await api.put(`/person-groups/${saved.id}/people`, { people_ids: ids(v.people_ids) });
    },
    remove: GROUPS.remove,
  };

  return (
    <Page title={t('nav.people')}>
      <CrudSection<Person> id="people" title={t('people.title')} createLabel={t('people.new')} list={people} describe={(p) => p.full_name} columns={personColumns} editor={personEditor} />
      <CrudSection<PersonGroup> id="groups" title={t('groups.title')} createLabel={t('groups.new')} list={groups} onChanged={people.reload} columns={groupColumns} editor={groupEditor} />
    </Page>
  );
}
