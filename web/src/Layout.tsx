import { useState } from 'react';
import { Link, NavLink, Outlet } from 'react-router';
import { isAdmin, useAuth } from './auth/auth';
import { LanguageSwitch } from './components/LanguageSwitch';
import { useI18n } from './i18n/i18n';
import { visibleNav } from './nav';

export function Layout() {
  const { t } = useI18n();
  const { user, logout } = useAuth();
  const [menuOpen, setMenuOpen] = useState(false);
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        {t('common.skipToContent')}
      </a>
      <nav className="sidebar" aria-label={t('nav.main')}>
        <div className="brand">SecurityVision</div>
        {visibleNav(isAdmin(user)).map((section) => (
          <div key={section.label} className="nav-section">
            <h2>{t(section.label)}</h2>
            <ul>
              {section.items.map((item) => (
                <li key={item.path}>
                  <NavLink to={item.path} end={item.path === '/'}>
                    {t(item.label)}
                  </NavLink>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <div className="content">
        <header className="topbar">
          <div className="user-menu" onKeyDown={(e) => e.key === 'Escape' && setMenuOpen(false)}>
            <button type="button" aria-expanded={menuOpen} aria-controls="user-menu-items" onClick={() => setMenuOpen(!menuOpen)}>
              {user?.full_name || user?.email} ▾
            </button>
            {menuOpen && (
              <div id="user-menu-items" className="user-menu-items" onClick={() => setMenuOpen(false)}>
                <p className="muted">
                  {user?.email} · {user?.role}
                </p>
                <Link to="/account/password">{t('auth.changePassword')}</Link>
                <LanguageSwitch />
                <button type="button" onClick={logout}>
                  {t('auth.logout')}
                </button>
              </div>
            )}
          </div>
        </header>
        {user?.must_change_password && (
          <p className="notice banner" role="status">
            {t('auth.mustChange')} <Link to="/account/password">{t('auth.changePassword')}</Link>
          </p>
        )}
        <main id="main" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </div>
  );
}
