import { CopyButton } from './CopyButton';
import { Dialog } from './Dialog';
import { useI18n } from '../i18n/i18n';

/** A secret the appliance shows once (a generated password, a webhook key), to copy now. */
export function SecretDialog({ title, note, secret, testId, onClose }: { title: string; note: string; secret: string; testId: string; onClose: () => void }) {
  const { t } = useI18n();
  return (
    <Dialog title={title} onClose={onClose}>
      <p>{note}</p>
      <p className="secret">
        <code data-testid={testId}>{secret}</code> <CopyButton text={secret} />
      </p>
      <div className="form-actions">
        <button type="button" className="primary" onClick={onClose}>
          {t('common.done')}
        </button>
      </div>
    </Dialog>
  );
}
