import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import { INCIDENT_STATUSES, type Id, type Incident, type IncidentMessage } from '../api/types';
import { Card } from '../components/Card';
import { ErrorAlert } from '../components/ErrorAlert';
import { FormDialog } from '../components/FormDialog';
import { asText, idOrNull, ids, optionsOf } from '../components/form';
import { useI18n } from '../i18n/i18n';
import { mergeMessages, messagesAfterPath } from './incidents';
import { SeverityBadge, SlaBadge, useStatusLabel } from './Badges';
import { Timeline } from './Timeline';
import type { Assignables } from './useAssignables';

/** The original console's polling period, used only while the live stream is down. */
export const POLL_MS = 1500;

/** What the appliance takes as an attachment (it checks the bytes, this only filters the picker). */
const ATTACHMENT_TYPES = 'image/png,image/jpeg,image/gif,image/webp,video/mp4,video/webm,application/pdf,text/plain';

/** A stream event about incidents, numbered so the same one twice is still news. */
export interface IncidentNotice {
  seq: number;
  type: string;
  incidentId: Id | null;
}

interface Props {
  incident: Incident;
  now: number;
  notice: IncidentNotice | null;
  streamLive: boolean;
  assignables: Assignables;
  onChanged: (incident: Incident) => void;
}

/** One incident: its facts, status and assignment, and the timeline with new messages and files. */
export function IncidentDetail({ incident, now, notice, streamLive, assignables, onChanged }: Props) {
  const { t } = useI18n();
  const statusLabel = useStatusLabel();
  const [messages, setMessages] = useState<IncidentMessage[] | null>(null);
  const [status, setStatus] = useState(incident.status);
  const [text, setText] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [fileNote, setFileNote] = useState('');
  const [fileKey, setFileKey] = useState(0);
  const [assigning, setAssigning] = useState(false);
  const [error, setError] = useState('');
  const id = incident.id;

  useEffect(() => {
    setStatus(incident.status);
  }, [incident.status]);

  useEffect(() => {
    setMessages(null);
    api.get<IncidentMessage[]>(`/incidents/${id}/messages?limit=500`).then(
      (rows) => setMessages((shown) => mergeMessages(shown ?? [], rows)),
      (e: unknown) => setError(messageOf(e)),
    );
  }, [id]);

  // What the next "after_id" request starts from, without re-making fetchNew at each message.
  const shown = useRef<IncidentMessage[] | null>(null);
  shown.current = messages;
  const fetchNew = useCallback(() => {
    if (shown.current === null) return;
    api.get<IncidentMessage[]>(messagesAfterPath(id, shown.current)).then(
      (rows) => rows.length > 0 && setMessages((current) => mergeMessages(current ?? [], rows)),
      () => {},
    );
  }, [id]);

  // New messages come with the stream; without it, the original's polling takes over.
  useEffect(() => {
    if (notice?.type === 'INCIDENT_MESSAGE_CREATED' && (notice.incidentId === null || notice.incidentId === id)) fetchNew();
  }, [notice?.seq, id, fetchNew]);
  useEffect(() => {
    if (streamLive) return;
    const timer = setInterval(fetchNew, POLL_MS);
    return () => clearInterval(timer);
  }, [streamLive, fetchNew]);

  async function run(action: () => Promise<void>) {
    try {
      await action();
      setError('');
    } catch (e) {
      setError(messageOf(e));
    }
  }

  const changeIncident = (body: Record<string, unknown>) =>
    run(async () => {
      onChanged(await api.patch<Incident>(`/incidents/${id}`, body));
      fetchNew();
    });

  const added = (m: IncidentMessage) => setMessages((current) => mergeMessages(current ?? [], [m]));

  function send(event: FormEvent) {
    event.preventDefault();
    const content = text.trim();
    if (!content) return;
    void run(async () => {
      added(await api.post<IncidentMessage>(`/incidents/${id}/messages`, { message_type: 'TEXT', content }));
      setText('');
    });
  }

  function attach(event: FormEvent) {
    event.preventDefault();
    if (!file) return;
    const form = new FormData();
    form.append('file', file);
    if (fileNote.trim()) form.append('description', fileNote.trim());
    void run(async () => {
      added(await api.post<IncidentMessage>(`/incidents/${id}/attachments`, form));
      setFile(null);
      setFileNote('');
      setFileKey((k) => k + 1);
    });
  }

  const assignees = incident.assignees.map((u) => u.full_name || u.email).join(', ');

  return (
    <Card id="incident" title={`#${incident.id} ${incident.title}`}>
      <dl className="facts">
        <dt>{t('incidents.severity')}</dt>
        <dd>
          <SeverityBadge severity={incident.severity} />
        </dd>
        <dt>{t('incidents.status')}</dt>
        <dd data-testid="incident-status">{statusLabel(incident.status)}</dd>
        <dt>{t('incidents.sla')}</dt>
        <dd>
          <SlaBadge incident={incident} now={now} />
        </dd>
        <dt>{t('incidents.kind')}</dt>
        <dd>{incident.kind}</dd>
        <dt>{t('incidents.assignedTo')}</dt>
        <dd>{[incident.assigned_group?.name, assignees].filter(Boolean).join(' · ') || t('incidents.unassigned')}</dd>
      </dl>
      {incident.description && <p className="incident-description">{incident.description}</p>}
      <ErrorAlert message={error} />
      <div className="filters">
        <div className="field">
          <label htmlFor="incident-status-select">{t('incidents.changeStatus')}</label>
          <select id="incident-status-select" value={status} onChange={(e) => setStatus(e.target.value)}>
            {INCIDENT_STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </div>
        <div className="form-actions">
          <button type="button" onClick={() => void changeIncident({ status })} disabled={status === incident.status}>
            {t('incidents.applyStatus')}
          </button>
          <button type="button" onClick={() => setAssigning(true)}>
            {t('incidents.assign')}
          </button>
        </div>
      </div>
      <h3>{t('incidents.timeline')}</h3>
      <Timeline messages={messages} />
      <form className="message-form" onSubmit={send}>
        <label htmlFor="incident-message">{t('incidents.newMessage')}</label>
        <textarea id="incident-message" value={text} onChange={(e) => setText(e.target.value)} />
        <div className="form-actions">
          <button type="submit" className="primary" disabled={!text.trim()}>
            {t('incidents.send')}
          </button>
        </div>
      </form>
      <form className="message-form" onSubmit={attach}>
        <label htmlFor="incident-file">{t('incidents.attachFile')}</label>
        <input key={fileKey} id="incident-file" type="file" accept={ATTACHMENT_TYPES} onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        <label htmlFor="incident-file-note">{t('incidents.fileNote')}</label>
        <input id="incident-file-note" value={fileNote} onChange={(e) => setFileNote(e.target.value)} />
        <div className="form-actions">
          <button type="submit" disabled={!file}>
            {t('incidents.attach')}
          </button>
        </div>
      </form>
      {assigning && (
        <FormDialog
          title={`${t('incidents.assign')}: #${incident.id}`}
          idPrefix="assign"
          fields={[
            { name: 'assigned_group_id', label: 'incidents.assignedGroup', kind: 'select', emptyOption: '—', options: optionsOf(assignables.groups, (g) => g.name) },
            { name: 'assigned_to_user_id', label: 'incidents.assignedUser', kind: 'select', emptyOption: '—', options: optionsOf(assignables.users, (u) => u.full_name || u.email) },
            { name: 'assignee_ids', label: 'incidents.assignees', kind: 'checkboxes', options: optionsOf(assignables.users, (u) => u.full_name || u.email) },
          ]}
          initial={{
            assigned_group_id: asText(incident.assigned_group?.id),
            assigned_to_user_id: asText(incident.assigned_to_user_id),
            assignee_ids: incident.assignees.map((u) => String(u.id)),
          }}
          submitLabel={t('common.save')}
          onClose={() => setAssigning(false)}
          onSubmit={async (v) => {
            onChanged(await api.patch<Incident>(`/incidents/${id}`, {
                assigned_group_id: idOrNull(v.assigned_group_id),
                assigned_to_user_id: idOrNull(v.assigned_to_user_id),
                assignee_ids: ids(v.assignee_ids),
              }));
            fetchNew();
          }}
        />
      )}
    </Card>
  );
}
