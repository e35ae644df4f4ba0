import { useState } from 'react';
import { api } from '../api/client';
import { ApiError } from '../api/errors';
import type { TokenResponse } from '../api/types';
import { useAuth } from '../auth/auth';
import { EntityForm } from '../components/EntityForm';
import { Page } from '../components/Page';
import { useI18n } from '../i18n/i18n';

export function ChangePasswordPage() {
  const { t } = useI18n();
  const { user, acceptNewToken } = useAuth();
  const [done, setDone] = useState(false);
  return (
    <Page title={t('auth.changePassword')}>
      <section className="card narrow">
        {user?.must_change_password && (
          <p className="notice" role="status">
            {t('auth.mustChange')}
          </p>
        )}
        {done && (
          <p className="success" role="status">
            {t('auth.passwordChanged')}
          </p>
        )}
        <EntityForm
          idPrefix="password"
          fields={[
            { name: 'current_password', label: 'auth.currentPassword', kind: 'password', required: true, autoComplete: 'current-password' },
            { name: 'new_password', label: 'auth.newPassword', kind: 'password', required: true, autoComplete: 'new-password', hint: 'auth.passwordRule' },
            { name: 'confirm', label: 'auth.confirmPassword', kind: 'password', required: true, autoComplete: 'new-password' },
          ]}
          initial={{ current_password: '', new_password: '', confirm: '' }}
          submitLabel={t('auth.changePassword')}
          onSubmit={async (v) => {
            if (v.new_password !== v.confirm) throw new ApiError(422, '', { confirm: t('auth.mismatch') });
            // Older tokens stop working after the change; the answer carries a fresh one.
            const token = await api.post<TokenResponse>('/auth/change-password', { current_password: v.current_password, new_password: v.new_password });
            await acceptNewToken(token.access_token);
            setDone(true);
          }}
        />
      </section>
    </Page>
  );
}
