import type { ReactNode } from 'react';
import { useI18n } from '../i18n/i18n';

interface Props {
  /** Names the region: its heading gets the id `${id}-title`. */
  id: string;
  title: ReactNode;
  /** Buttons and states at the right of the heading. */
  tools?: ReactNode;
  /** Offers a Refresh button, for what the page does not follow live. */
  onRefresh?: () => void;
  /** A short explanation under the header. */
  help?: string;
  children: ReactNode;
}

/** A titled region of a page (a landmark named by its heading). */
export function Card({ id, title, tools, onRefresh, help, children }: Props) {
  const { t } = useI18n();
  return (
    <section className="card" aria-labelledby={`${id}-title`}>
      <header className="card-header">
        <h2 id={`${id}-title`}>{title}</h2>
        {tools}
        {onRefresh && (
          <button type="button" onClick={onRefresh}>
            {t('common.refresh')}
          </button>
        )}
      </header>
      {help && <p className="muted">{help}</p>}
      {children}
    </section>
  );
}
