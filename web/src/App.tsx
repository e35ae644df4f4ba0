import type { ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { isAdmin, useAuth } from './auth/auth';
import { AuthProvider } from './auth/AuthProvider';
import { I18nProvider } from './i18n/I18nProvider';
import { useI18n } from './i18n/i18n';
import { Layout } from './Layout';
import { AlertsPage } from './pages/AlertsPage';
import { CalibrationPage } from './pages/CalibrationPage';
import { CameraPage } from './pages/CameraPage';
import { ChangePasswordPage } from './pages/ChangePasswordPage';
import { DevicesPage } from './pages/DevicesPage';
import { IncidentRulesPage } from './pages/IncidentRulesPage';
import { IncidentsPage } from './pages/IncidentsPage';
import { LiveMapPage } from './pages/LiveMapPage';
import { LoginPage } from './pages/LoginPage';
import { MqttCredentialsPage } from './pages/MqttCredentialsPage';
import { PeoplePage } from './pages/PeoplePage';
import { ReportsPage } from './pages/ReportsPage';
import { SitePage } from './pages/SitePage';
import { TagsPage } from './pages/TagsPage';
import { UsersPage } from './pages/UsersPage';
import { WebhooksPage } from './pages/WebhooksPage';

/** Signed-out visitors (including anyone whose token just got a 401) go to the login page. */
function RequireUser({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  const location = useLocation();
  if (!user) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  return children;
}

function AdminOnly({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  return isAdmin(user) ? children : <Navigate to="/" replace />;
}

function NotFound() {
  const { t } = useI18n();
  return (
    <div className="page">
      <h1>{t('common.notFound')}</h1>
    </div>
  );
}

export function App() {
  return (
    <I18nProvider>
      <AuthProvider>
        <BrowserRouter>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route
              element={
                <RequireUser>
                  <Layout />
                </RequireUser>
              }
            >
              <Route index element={<LiveMapPage />} />
              <Route path="alerts" element={<AlertsPage />} />
              <Route path="incidents/:id?" element={<IncidentsPage />} />
              <Route path="incident-rules" element={<IncidentRulesPage />} />
              <Route path="reports/:tab?" element={<ReportsPage />} />
              <Route path="site" element={<SitePage />} />
              <Route path="people" element={<PeoplePage />} />
              <Route path="tags" element={<TagsPage />} />
              <Route path="devices" element={<DevicesPage />} />
              <Route path="devices/cameras/:id" element={<CameraPage />} />
              <Route path="calibration" element={<CalibrationPage />} />
              <Route path="mqtt" element={<AdminOnly><MqttCredentialsPage /></AdminOnly>} />
              <Route path="users" element={<AdminOnly><UsersPage /></AdminOnly>} />
              <Route path="webhooks" element={<AdminOnly><WebhooksPage /></AdminOnly>} />
              <Route path="account/password" element={<ChangePasswordPage />} />
              <Route path="*" element={<NotFound />} />
            </Route>
          </Routes>
        </BrowserRouter>
      </AuthProvider>
    </I18nProvider>
  );
}
