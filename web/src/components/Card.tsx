import type { ReactNode } from 'react';

interface Props {
  /** Names the region: its heading gets the id `${id}-title`. */
  id: string;
  title: ReactNode;
  /** Buttons and states at the right of the heading. */
  tools?: ReactNode;
  /** A short explanation under the header. */
  help?: string;
  children: ReactNode;
}

/** A titled region of a page (a landmark named by its heading). */
export function Card({ id, title, tools, help, children }: Props) {
  return (
    <section className="card" aria-labelledby={`${id}-title`}>
      <header className="card-header">
        <h2 id={`${id}-title`}>{title}</h2>
        {tools}
      </header>
      {help && <p className="muted">{help}</p>}
      {children}
    </section>
  );
}
