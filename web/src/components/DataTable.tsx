import type { ComponentProps, ReactNode } from 'react';
import { useI18n } from '../i18n/i18n';

export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
}

type RowProps = ComponentProps<'tr'> & { [data: `data-${string}`]: string | number };

interface Props<T> {
  /** Null while loading. */
  rows: T[] | null;
  columns: Column<T>[];
  rowKey: (row: T) => string | number;
  /** Shown when there are no rows (default: the common "nothing yet"). */
  empty?: string;
  /** Buttons of a row, in a last column whose header only screen readers read. */
  actions?: (row: T) => ReactNode;
  rowProps?: (row: T) => RowProps;
  className?: string;
}

/** A table of rows, or the word for "loading" or "none" in its place. */
export function DataTable<T>({ rows, columns, rowKey, empty, actions, rowProps, className }: Props<T>) {
  const { t } = useI18n();
  if (rows === null) return <p className="muted">{t('common.loading')}</p>;
  if (rows.length === 0) return <p className="muted">{empty ?? t('common.empty')}</p>;
  return (
    <div className="table-wrap">
      <table className={className}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.header} scope="col">
                {c.header}
              </th>
            ))}
            {actions && (
              <th scope="col">
                <span className="visually-hidden">{t('common.actions')}</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} {...rowProps?.(row)}>
              {columns.map((c) => (
                <td key={c.header}>{c.cell(row)}</td>
              ))}
              {actions && <td className="row-actions">{actions(row)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
