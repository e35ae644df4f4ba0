import { useEffect, useRef } from 'react';
import type { IncidentMessage } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { isImage } from './incidents';

/** An incident's messages and status changes, oldest first, kept scrolled to the newest. */
export function Timeline({ messages }: { messages: IncidentMessage[] | null }) {
  const { t, language } = useI18n();
  const end = useRef<HTMLLIElement>(null);
  const locale = language === 'pt' ? 'pt-BR' : 'en';
  const count = messages?.length ?? 0;
  // A block body: an effect's return value is its clean-up, and Chromium's
  // `scrollIntoView` now returns a promise (React then calls it on the next render).
  useEffect(() => {
    end.current?.scrollIntoView({ block: 'nearest' });
  }, [count]);
  if (messages === null) return <p className="muted">{t('common.loading')}</p>;
  return (
    <ol className="timeline" aria-label={t('incidents.timeline')} aria-live="polite">
      {messages.length === 0 && <li className="muted">{t('incidents.noMessages')}</li>}
      {messages.map((m) => (
        <li key={m.id} className={`message message-${m.message_type.toLowerCase()}`} data-message-id={m.id}>
          <header>
            <strong>{m.message_type === 'SYSTEM' ? t('incidents.system') : (m.author_name ?? '—')}</strong>{' '}
            <time className="muted" dateTime={m.created_at}>
              {new Date(m.created_at).toLocaleString(locale)}
            </time>
          </header>
          <p>{m.content}</p>
          {isImage(m) ? (
            <a href={m.media_url!} target="_blank" rel="noopener noreferrer">
              <img className="attachment-preview" src={m.media_thumb_url ?? m.media_url!} alt={m.media_name ?? t('incidents.attachment')} />
            </a>
          ) : m.media_type === 'VIDEO' && m.media_url ? (
            <video className="attachment-preview" src={m.media_url} controls preload="metadata" />
          ) : (
            m.media_url && (
              <a href={m.media_url} download={m.media_name ?? undefined}>
                📎 {m.media_name ?? t('incidents.attachment')}
              </a>
            )
          )}
        </li>
      ))}
      <li ref={end} aria-hidden="true" className="timeline-end" />
    </ol>
  );
}
