import { useState, type FormEvent } from 'react';
import { ApiError, messageOf, unplacedFieldMessages } from '../api/errors';
import { useI18n } from '../i18n/i18n';
import { ErrorAlert } from './ErrorAlert';
import { visibleFields, type FieldSpec, type FormValue, type FormValues } from './form';

interface Props {
  fields: FieldSpec[];
  initial: FormValues;
  submitLabel: string;
  /** Throws ApiError to have its messages shown; resolves when done. */
  onSubmit: (values: FormValues) => Promise<void>;
  onCancel?: () => void;
  idPrefix?: string;
}

/** A form whose fields are described by data, showing the API's messages next to each field. */
export function EntityForm({ fields, initial, submitLabel, onSubmit, onCancel, idPrefix = 'f' }: Props) {
  const { t } = useI18n();
  const [values, setValues] = useState<FormValues>(initial);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  const set = (name: string, value: FormValue) => setValues((v) => ({ ...v, [name]: value }));
  const shown = visibleFields(fields, values);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setFormError('');
    setFieldErrors({});
    try {
      await onSubmit(values);
    } catch (error) {
      if (error instanceof ApiError) {
        setFieldErrors(error.fields);
        const loose = unplacedFieldMessages(error, shown.map((f) => f.name));
        setFormError([error.detail, ...loose].filter(Boolean).join(' · '));
      } else {
        setFormError(messageOf(error));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="entity-form" onSubmit={submit}>
      <ErrorAlert message={formError} />
      {shown.map((field) => {
        const id = `${idPrefix}-${field.name}`;
        const error = fieldErrors[field.name];
        const describedBy = [error ? `${id}-error` : '', field.hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
        const common = { id, name: field.name, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy };
        const value = values[field.name];
        let control;
        switch (field.kind) {
          case 'checkbox':
            control = (
              <input {...common} type="checkbox" checked={value === true} onChange={(e) => set(field.name, e.target.checked)} />
            );
            break;
          case 'select':
            control = (
              <select {...common} required={field.required} value={typeof value === 'string' ? value : ''} onChange={(e) => set(field.name, e.target.value)}>
                {field.emptyOption !== undefined && <option value="">{field.emptyOption}</option>}
                {field.options.map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
              </select>
            );
            break;
          case 'checkboxes': {
            const chosen = Array.isArray(value) ? value : [];
            control = (
              <fieldset {...common} className="checkbox-group">
                <legend className="visually-hidden">{t(field.label)}</legend>
                {field.options.length === 0 && <span className="muted">{t('common.noneYet')}</span>}
                {field.options.map((o) => (
                  <label key={o.value} className="inline">
                    <input
                      type="checkbox"
                      checked={chosen.includes(o.value)}
                      onChange={(e) =>
                        set(field.name, e.target.checked ? [...chosen, o.value] : chosen.filter((v) => v !== o.value))
                      }
                    />
                    {o.label}
                  </label>
                ))}
              </fieldset>
            );
            break;
          }
          case 'file':
            control = (
              <input {...common} type="file" accept={field.accept} onChange={(e) => set(field.name, e.target.files?.[0] ?? null)} />
            );
            break;
          case 'textarea':
            control = (
              <textarea {...common} required={field.required} value={typeof value === 'string' ? value : ''} onChange={(e) => set(field.name, e.target.value)} />
            );
            break;
          case 'number':
            control = (
              <input
                {...common}
                type="number"
                inputMode="decimal"
                step={field.step ?? 'any'}
                min={field.min}
                required={field.required}
                value={typeof value === 'string' ? value : ''}
                onChange={(e) => set(field.name, e.target.value)}
              />
            );
            break;
          default:
            control = (
              <input
                {...common}
                type={field.kind}
                autoComplete={field.autoComplete}
                required={field.required}
                value={typeof value === 'string' ? value : ''}
                onChange={(e) => set(field.name, e.target.value)}
              />
            );
        }
        return (
          <div className={`field field-${field.kind}`} key={field.name}>
            <label htmlFor={id}>
              {t(field.label)}
              {field.required && <span aria-hidden="true"> *</span>}
            </label>
            {control}
            {field.hint && (
              <small id={`${id}-hint`} className="hint">
                {t(field.hint)}
              </small>
            )}
            {error && (
              <small id={`${id}-error`} className="field-error">
                {error}
              </small>
            )}
          </div>
        );
      })}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            {t('common.cancel')}
          </button>
        )}
      </div>
    </form>
  );
}
