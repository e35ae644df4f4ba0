import { api, collection, listPath } from '../api/client';
import type { Person, PersonGroup } from '../api/types';
import { CrudSection } from '../components/CrudSection';
import { asText, ids, textOrNull } from '../components/form';
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
  const groupOptions = (groups.data ?? []).map((g) => ({ value: String(g.id), label: g.name }));
  const membersOf = (g: PersonGroup) => (people.data ?? []).filter((p) => p.groups.some((pg) => pg.id === g.id));

  return (
    <Page title={t('nav.people')}>
      <CrudSection<Person>
        id="people"
        title={t('people.title')}
        createLabel={t('people.new')}
        list={people}
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
        save={(v, p) =>
          PEOPLE.save(
            {
              full_name: v.full_name,
              document_id: textOrNull(v.document_id),
              email: textOrNull(v.email),
              phone: textOrNull(v.phone),
              group_ids: ids(v.group_ids),
              active: v.active,
              notes: textOrNull(v.notes),
            },
            p,
          )
        }
        remove={PEOPLE.remove}
      />
      <CrudSection<PersonGroup>
        id="groups"
        title={t('groups.title')}
        createLabel={t('groups.new')}
        list={groups}
        onChanged={people.reload}
        describe={(g) => g.name}
        columns={[
          { header: t('common.name'), cell: (g) => g.name },
          { header: t('common.description'), cell: (g) => g.description ?? '—' },
          { header: t('groups.members'), cell: (g) => membersOf(g).length },
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
          people_ids: g ? membersOf(g).map((p) => String(p.id)) : [],
        })}
        save={async (v, g) => {
          const saved = await GROUPS.save({ name: v.name, description: textOrNull(v.description) }, g);
          // Membership is replaced as a whole by the server, in one request.
          await api.put(`/person-groups/${saved.id}/people`, { people_ids: ids(v.people_ids) });
        }}
        remove={GROUPS.remove}
      />
    </Page>
  );
}
