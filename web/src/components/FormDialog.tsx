import { Dialog } from './Dialog';
import { EntityForm } from './EntityForm';
import type { FieldSpec, FormValues } from './form';

interface Props {
  title: string;
  idPrefix: string;
  fields: FieldSpec[];
  initial: FormValues;
  submitLabel: string;
  /** Throws ApiError to keep the dialog open with the API's messages. */
  onSubmit: (values: FormValues) => Promise<void>;
  onClose: () => void;
}

/** A form in a modal: Cancel closes it, and so does a successful submit. */
export function FormDialog({ title, onClose, onSubmit, ...form }: Props) {
  return (
    <Dialog title={title} onClose={onClose}>
      <EntityForm
        {...form}
        onCancel={onClose}
        onSubmit={async (values) => {
          await onSubmit(values);
          onClose();
        }}
      />
    </Dialog>
  );
}
