import { Navigate, useLocation } from 'react-router';
import { useAuth } from '../auth/auth';
import { EntityForm } from '../components/EntityForm';
import { useI18n } from '../i18n/i18n';
import { LanguageSwitch } from '../components/LanguageSwitch';

export function LoginPage() {
  const { t } = useI18n();
  const { user, login } = useAuth();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? '/';
  if (user) return <Navigate to={user.must_change_password ? '/account/password' : from} replace />;
  return (
    <main className="login">
      <div className="card login-card">
        <h1>SecurityVision</h1>
        <p className="muted">{t('auth.subtitle')}</p>
        <EntityForm
          idPrefix="login"
          fields={[
            { name: 'email', label: 'common.email', kind: 'email', required: true, autoComplete: 'username' },
            { name: 'password', label: 'auth.password', kind: 'password', required: true, autoComplete: 'current-password' },
          ]}
          initial={{ email: '', password: '' }}
          submitLabel={t('auth.login')}
          onSubmit={(v) => login(String(v.email), String(v.password))}
        />
        <LanguageSwitch />
      </div>
    </main>
  );
}
