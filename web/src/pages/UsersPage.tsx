import { collection, listPath } from '../api/client';
import { ROLES, type User } from '../api/types';
import { useAuth } from '../auth/auth';
import { CrudSection, type Editor } from '../components/CrudSection';
import type { Column } from '../components/DataTable';
import { textOrNull } from '../components/form';
import { Page } from '../components/Page';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

const USERS = collection<User>('/users', 'patch');

/** Console users (administrators only; the route is not offered to others). */
export function UsersPage() {
  const { t } = useI18n();
  const { user: me } = useAuth();
  const users = useList<User>(listPath('/users'));
  const roleOptions = ROLES.map((r) => ({ value: r, label: t(`users.role.${r}`) }));

  const columns: Column<User>[] = [
    { header: t('common.name'), cell: (u) => u.full_name },
    { header: t('common.email'), cell: (u) => u.email },
    { header: t('users.roleLabel'), cell: (u) => t(`users.role.${(ROLES as string[]).includes(u.role) ? (u.role as (typeof ROLES)[number]) : 'OPERATOR'}`) },
    { header: t('common.active'), cell: (u) => (u.is_active ? t('common.yes') : t('common.no')) },
  ];
  const editor: Editor<User> = {
    fields: (u) => [
      { name: 'full_name', label: 'people.fullName', kind: 'text', required: true },
      { name: 'email', label: 'common.email', kind: 'email', required: true, autoComplete: 'off' },
      { name: 'role', label: 'users.roleLabel', kind: 'select', options: roleOptions },
      {
        name: 'password',
        label: u ? 'users.newPassword' : 'auth.password',
        kind: 'password',
        required: !u,
        autoComplete: 'new-password',
        hint: u ? 'users.passwordKeep' : 'auth.passwordRule',
      },
      { name: 'is_active', label: 'common.active', kind: 'checkbox' },
    ],
    values: (u) => ({ role: u?.role ?? 'OPERATOR' }),
    save: (v, u) => {
      const body: Record<string, unknown> = { full_name: v.full_name, email: v.email, role: v.role, is_active: v.is_active };
      const password = textOrNull(v.password);
      if (password) body.password = password;
      return USERS.save(body, u);
    },
    remove: async (u) => {
      if (u.id === me?.id) throw new Error(t('users.notYourself'));
      await USERS.remove(u);
    },
  };

  return (
    <Page title={t('nav.users')}>
      <CrudSection<User> id="users" title={t('users.title')} createLabel={t('users.new')} list={users} describe={(u) => u.email} columns={columns} editor={editor} />
    </Page>
  );
}
