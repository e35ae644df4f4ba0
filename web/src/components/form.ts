// Field descriptions for EntityForm and the conversions from form values to API bodies.
import type { MessageKey } from '../i18n/i18n';

export type FormValue = string | boolean | string[] | File | null;
export type FormValues = Record<string, FormValue>;

export interface Option {
  value: string;
  label: string;
}

interface BaseField {
  /** Also the API's field name, so its validation messages land next to the input. */
  name: string;
  label: MessageKey;
  required?: boolean;
  hint?: MessageKey;
  /** Shown only when this holds for the form's current values (e.g. the fields of one type). */
  shownWhen?: (values: FormValues) => boolean;
}

export type FieldSpec =
  | (BaseField & { kind: 'text' | 'email' | 'password' | 'textarea'; autoComplete?: string })
  | (BaseField & { kind: 'number'; step?: string; min?: number })
  | (BaseField & { kind: 'select'; options: Option[]; emptyOption?: string })
  | (BaseField & { kind: 'checkbox' })
  | (BaseField & { kind: 'checkboxes'; options: Option[] })
  | (BaseField & { kind: 'file'; accept?: string });

/** The fields shown for the form's current values. */
export function visibleFields(fields: FieldSpec[], values: FormValues): FieldSpec[] {
  return fields.filter((f) => !f.shownWhen || f.shownWhen(values));
}

/** Trimmed text, or null when empty (the API clears a field on null). */
export function textOrNull(value: FormValue): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

export function numberOrNull(value: FormValue): number | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const n = Number(value.replace(',', '.'));
  return Number.isFinite(n) ? n : null;
}

export function idOrNull(value: FormValue): number | null {
  return numberOrNull(value);
}

export function ids(value: FormValue): number[] {
  return Array.isArray(value) ? value.map(Number) : [];
}

/** The form's text for a value coming from the API. */
export function asText(value: string | number | null | undefined): string {
  return value === null || value === undefined ? '' : String(value);
}

/**
 * The form's starting values: each field from the row's property of the same name. A new row
 * (null) starts with checkboxes ticked; passwords are write-only and files are chosen anew, so
 * both start empty. Fields whose value is not a property of that name are set by the caller.
 */
export function formValues(fields: FieldSpec[], row: object | null): FormValues {
  const property = (name: string) => (row as Record<string, unknown> | null)?.[name];
  return Object.fromEntries(
    fields.map((field): [string, FormValue] => {
      const value = property(field.name);
      switch (field.kind) {
        case 'checkbox':
          return [field.name, typeof value === 'boolean' ? value : true];
        case 'checkboxes':
          return [field.name, []];
        case 'password':
          return [field.name, ''];
        case 'file':
          return [field.name, null];
        default:
          return [field.name, asText(value as string | number | null | undefined)];
      }
    }),
  );
}

/** Select options of rows, by id. */
export function optionsOf<T extends { id: number }>(rows: T[] | null, label: (row: T) => string): Option[] {
  return (rows ?? []).map((row) => ({ value: String(row.id), label: label(row) }));
}
