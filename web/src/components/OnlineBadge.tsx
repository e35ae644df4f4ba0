import { useI18n } from '../i18n/i18n';

/** "Online" or "Offline", for a device or a collector. */
export function OnlineBadge({ online }: { online: boolean }) {
  const { t } = useI18n();
  return <span className={`badge ${online ? 'ok' : 'off'}`}>{t(online ? 'devices.online' : 'devices.offline')}</span>;
}
