import type { Id, Incident } from '../api/types';
import { DataTable } from '../components/DataTable';
import { useI18n } from '../i18n/i18n';
import { isOverdue } from './incidents';
import { SeverityBadge, SlaBadge, useStatusLabel } from './Badges';

interface Props {
  rows: Incident[] | null;
  now: number;
  onOpen: (incident: Incident) => void;
  selectedId?: Id | null;
  empty?: string;
}

/** Incidents as a table: overdue rows highlighted, the SLA counting down. */
export function IncidentList({ rows, now, onOpen, selectedId, empty }: Props) {
  const { t, ago } = useI18n();
  const statusLabel = useStatusLabel();
  const assignedTo = (i: Incident) => [i.assigned_group?.name, ...i.assignees.map((u) => u.full_name || u.email)].filter(Boolean).join(', ') || t('incidents.unassigned');
  return (
    <DataTable
      className="incidents-table"
      rows={rows}
      rowKey={(i) => i.id}
      empty={empty ?? t('incidents.none')}
      rowProps={(i) => ({
        'data-incident-id': i.id,
        className: [isOverdue(i, now) ? 'overdue' : '', i.id === selectedId ? 'selected' : ''].filter(Boolean).join(' ') || undefined,
        'aria-selected': selectedId === undefined ? undefined : i.id === selectedId,
      })}
      columns={[
        {
          header: t('incidents.title'),
          cell: (i) => (
            <>
              <button type="button" className="link" onClick={() => onOpen(i)}>
                {i.title}
              </button>
              <small className="muted block">
                #{i.id} · {i.kind} · {ago(i.created_at)}
              </small>
            </>
          ),
        },
        { header: t('incidents.severity'), cell: (i) => <SeverityBadge severity={i.severity} /> },
        { header: t('incidents.status'), cell: (i) => statusLabel(i.status) },
        { header: t('incidents.sla'), cell: (i) => <SlaBadge incident={i} now={now} /> },
        { header: t('incidents.assignedTo'), cell: assignedTo },
      ]}
    />
  );
}
