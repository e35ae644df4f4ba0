import { useState, type ReactNode } from 'react';
import { messageOf } from '../api/errors';
import { useI18n } from '../i18n/i18n';
import { Card } from './Card';
import { DataTable, type Column } from './DataTable';
import { ErrorAlert } from './ErrorAlert';
import { FormDialog } from './FormDialog';
import { formValues, type FieldSpec, type FormValues } from './form';
import type { Loaded } from './useLoad';

/** How rows are created, edited and deleted. */
export interface Editor<T> {
  fields: (row: T | null) => FieldSpec[];
  /** Starting values besides those read from the row's properties of the fields' names. */
  values?: (row: T | null) => FormValues;
  /** Creates (row null) or updates `row`; throws ApiError on refusal. */
  save: (values: FormValues, row: T | null) => Promise<unknown>;
  remove?: (row: T) => Promise<void>;
}

interface BaseProps<T> {
  id: string;
  title: string;
  /** The rows; reloaded after each change. */
  list: Loaded<T[]>;
  columns: Column<T>[];
  editor: Editor<T>;
  /** The row's name, for confirmations and button labels (by default its `name`). */
  describe?: (row: T) => string;
  /** Called after a change besides reloading `list`, for what else it touches. */
  onChanged?: () => void;
  createLabel?: string;
  rowActions?: (row: T) => ReactNode;
  /** Highlighted row, for master/detail layouts. */
  selectedId?: number | null;
  onSelect?: (row: T) => void;
}

// Rows without a `name` must say how they are named.
type Props<T> = BaseProps<T> & (T extends { name: string } ? unknown : { describe: (row: T) => string });

/** A titled table with create, edit and delete, the pattern every set-up page shares. */
export function CrudSection<T extends { id: number }>(props: Props<T>) {
  const { t } = useI18n();
  const [editing, setEditing] = useState<T | null | 'new'>(null);
  const [actionError, setActionError] = useState('');
  const row = editing === 'new' ? null : editing;
  const { list, editor, onSelect } = props;
  const fields = editor.fields(row);
  const describe = props.describe ?? ((r: T) => (r as T & { name: string }).name);

  function changed() {
    void list.reload();
    props.onChanged?.();
  }

  async function remove(target: T) {
    if (!editor.remove || !window.confirm(t('common.confirmDelete', { name: describe(target) }))) return;
    try {
      await editor.remove(target);
      setActionError('');
      changed();
    } catch (e) {
      setActionError(messageOf(e));
    }
  }

  // In a master/detail layout the first cell is the button that selects the row.
  const columns = props.columns.map((c, i) =>
    i === 0 && onSelect
      ? {
          ...c,
          cell: (r: T) => (
            <button type="button" className="link" onClick={() => onSelect(r)}>
              {c.cell(r)}
            </button>
          ),
        }
      : c,
  );

  return (
    <Card
      id={props.id}
      title={props.title}
      tools={
        <button type="button" className="primary" onClick={() => setEditing('new')}>
          {props.createLabel ?? t('common.add')}
        </button>
      }
    >
      <ErrorAlert message={actionError || list.error} />
      <DataTable
        rows={list.data}
        columns={columns}
        rowKey={(r) => r.id}
        rowProps={(r) => ({ className: props.selectedId === r.id ? 'selected' : undefined, 'aria-selected': onSelect ? props.selectedId === r.id : undefined })}
        actions={(r) => (
          <>
            {props.rowActions?.(r)}
            <button type="button" onClick={() => setEditing(r)} aria-label={`${t('common.edit')} ${describe(r)}`}>
              {t('common.edit')}
            </button>
            {editor.remove && (
              <button type="button" className="danger" onClick={() => remove(r)} aria-label={`${t('common.delete')} ${describe(r)}`}>
                {t('common.delete')}
              </button>
            )}
          </>
        )}
      />
      {editing !== null && (
        <FormDialog
          title={row ? `${t('common.edit')}: ${describe(row)}` : (props.createLabel ?? t('common.add'))}
          idPrefix={props.id}
          fields={fields}
          initial={{ ...formValues(fields, row), ...editor.values?.(row) }}
          submitLabel={t('common.save')}
          onClose={() => setEditing(null)}
          onSubmit={async (values) => {
            await editor.save(values, row);
            changed();
          }}
        />
      )}
    </Card>
  );
}
