import type { ReactNode } from 'react';

interface Props {
  title: ReactNode;
  /** Before the heading, e.g. a link back. */
  back?: ReactNode;
  /** After the heading: page-wide controls and states. */
  tools?: ReactNode;
  /** A short explanation under the header. */
  intro?: string;
  className?: string;
  children: ReactNode;
}

/** A console page: its header with the heading, then its content. */
export function Page({ title, back, tools, intro, className, children }: Props) {
  return (
    <div className={className ? `page ${className}` : 'page'}>
      <header className="page-header">
        {back}
        <h1>{title}</h1>
        {tools}
      </header>
      {intro && <p className="muted">{intro}</p>}
      {children}
    </div>
  );
}
