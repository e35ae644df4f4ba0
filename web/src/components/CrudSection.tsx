import { useState, type ReactNode } from 'react';
import { useI18n } from '../i18n/i18n';
import { Dialog } from './Dialog';
import { EntityForm } from './EntityForm';
import type { FieldSpec, FormValues } from './form';

export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
}

interface Props<T extends { id: number }> {
  id: string;
  title: string;
  rows: T[] | null;
  loadError?: string;
  columns: Column<T>[];
  fields: (row: T | null) => FieldSpec[];
  toValues: (row: T | null) => FormValues;
  /** Creates (row null) or updates `row`; throws ApiError on refusal. */
  save: (values: FormValues, row: T | null) => Promise<unknown>;
  remove?: (row: T) => Promise<void>;
  /** The row's name, for confirmations and button labels. */
  describe: (row: T) => string;
  onChanged: () => void;
  createLabel?: string;
  rowActions?: (row: T) => ReactNode;
  /** Content above the table (filters, selectors). */
  toolbar?: ReactNode;
  /** Highlighted row, for master/detail layouts. */
  selectedId?: number | null;
  onSelect?: (row: T) => void;
}

/** A titled table with create, edit and delete, the pattern every set-up page shares. */
export function CrudSection<T extends { id: number }>(props: Props<T>) {
  const { t } = useI18n();
  const [editing, setEditing] = useState<T | null | 'new'>(null);
  const [actionError, setActionError] = useState('');
  const row = editing === 'new' ? null : editing;

  async function remove(target: T) {
    if (!props.remove || !window.confirm(t('common.confirmDelete', { name: props.describe(target) }))) return;
    try {
      await props.remove(target);
      setActionError('');
      props.onChanged();
    } catch (e) {
      setActionError(e instanceof Error ? e.message : String(e));
    }
  }

  return (
    <section className="card" aria-labelledby={`${props.id}-title`}>
      <header className="card-header">
        <h2 id={`${props.id}-title`}>{props.title}</h2>
        <button type="button" className="primary" onClick={() => setEditing('new')}>
          {props.createLabel ?? t('common.add')}
        </button>
      </header>
      {props.toolbar}
      {(actionError || props.loadError) && (
        <p className="form-error" role="alert">
          {actionError || props.loadError}
        </p>
      )}
      {props.rows === null ? (
        <p className="muted">{t('common.loading')}</p>
      ) : props.rows.length === 0 ? (
        <p className="muted">{t('common.empty')}</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                {props.columns.map((c) => (
                  <th key={c.header} scope="col">
                    {c.header}
                  </th>
                ))}
                <th scope="col">
                  <span className="visually-hidden">{t('common.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((r) => (
                <tr key={r.id} className={props.selectedId === r.id ? 'selected' : undefined} aria-selected={props.onSelect ? props.selectedId === r.id : undefined}>
                  {props.columns.map((c, i) => (
                    <td key={c.header}>
                      {i === 0 && props.onSelect ? (
                        <button type="button" className="link" onClick={() => props.onSelect?.(r)}>
                          {c.cell(r)}
                        </button>
                      ) : (
                        c.cell(r)
                      )}
                    </td>
                  ))}
                  <td className="row-actions">
                    {props.rowActions?.(r)}
                    <button type="button" onClick={() => setEditing(r)} aria-label={`${t('common.edit')} ${props.describe(r)}`}>
                      {t('common.edit')}
                    </button>
                    {props.remove && (
                      <button type="button" className="danger" onClick={() => remove(r)} aria-label={`${t('common.delete')} ${props.describe(r)}`}>
                        {t('common.delete')}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing !== null && (
        <Dialog title={row ? `${t('common.edit')}: ${props.describe(row)}` : props.createLabel ?? t('common.add')} onClose={() => setEditing(null)}>
          <EntityForm
            idPrefix={props.id}
            fields={props.fields(row)}
            initial={props.toValues(row)}
            submitLabel={t('common.save')}
            onCancel={() => setEditing(null)}
            onSubmit={async (values) => {
              await props.save(values, row);
              setEditing(null);
              props.onChanged();
            }}
          />
        </Dialog>
      )}
    </section>
  );
}
