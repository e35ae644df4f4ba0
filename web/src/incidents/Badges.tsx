import type { Incident } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { formatDuration, isOverdue, slaLeft } from './incidents';

/** The time left to an incident's due time, or how late it is. */
export function SlaBadge({ incident, now }: { incident: Incident; now: number }) {
  const { t } = useI18n();
  const left = slaLeft(incident, now);
  if (left === null) return <span className="muted">—</span>;
  if (isOverdue(incident, now)) return <span className="badge off sla">{t('incidents.overdueBy', { time: formatDuration(left) })}</span>;
  return <span className="badge pending sla">{t('incidents.dueIn', { time: formatDuration(left) })}</span>;
}

const SEVERITY_BADGE: Record<string, string> = { CRITICAL: 'off', HIGH: 'off', MEDIUM: 'pending', LOW: 'ok' };

export function SeverityBadge({ severity }: { severity: string }) {
  const { t } = useI18n();
  const known = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].includes(severity);
  return <span className={`badge ${SEVERITY_BADGE[severity] ?? ''}`}>{known ? t(`incidents.severity.${severity as 'LOW'}`) : severity}</span>;
}

/** A status in the user's language (an unknown one as sent). */
export function useStatusLabel() {
  const { t } = useI18n();
  return (status: string) =>
    ['OPEN', 'IN_PROGRESS', 'RESOLVED', 'FALSE_POSITIVE', 'CANCELED'].includes(status) ? t(`incidents.status.${status as 'OPEN'}`) : status;
}
