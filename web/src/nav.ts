// The menu, as data: a new feature (alerts, incidents, webhooks, reports) is one entry in
// the section it belongs to, plus its route in App.tsx.
import type { MessageKey } from './i18n/i18n';

export interface NavItem {
  path: string;
  label: MessageKey;
  adminOnly?: boolean;
}

export interface NavSection {
  label: MessageKey;
  items: NavItem[];
}

export const NAV: NavSection[] = [
  {
    label: 'nav.section.operations',
    items: [
      { path: '/', label: 'nav.liveMap' },
      { path: '/incidents', label: 'nav.incidents' },
      { path: '/alerts', label: 'nav.alerts' },
      { path: '/reports', label: 'nav.reports' },
    ],
  },
  {
    label: 'nav.section.setup',
    items: [
      { path: '/site', label: 'nav.site' },
      { path: '/people', label: 'nav.people' },
      { path: '/tags', label: 'nav.tags' },
      { path: '/devices', label: 'nav.devices' },
      { path: '/calibration', label: 'nav.calibration' },
      { path: '/incident-rules', label: 'nav.incidentRules' },
    ],
  },
  {
    label: 'nav.section.admin',
    items: [
      { path: '/mqtt', label: 'nav.mqtt', adminOnly: true },
      { path: '/users', label: 'nav.users', adminOnly: true },
      { path: '/webhooks', label: 'nav.webhooks', adminOnly: true },
    ],
  },
];

/** The menu a user sees: admin entries only for administrators, empty sections dropped. */
export function visibleNav(admin: boolean): NavSection[] {
  return NAV.map((s) => ({ ...s, items: s.items.filter((i) => admin || !i.adminOnly) })).filter((s) => s.items.length > 0);
}
