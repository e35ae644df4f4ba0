import { useI18n } from '../i18n/i18n';

/** A collapsed, pretty-printed JSON value; `undefined` means still to be loaded (`onOpen` loads it). */
export function JsonDetails({ summary, value, onOpen }: { summary: string; value: unknown; onOpen?: () => void }) {
  const { t } = useI18n();
  return (
    <details className="json-details" onToggle={(e) => e.currentTarget.open && onOpen?.()}>
      <summary>{summary}</summary>
      {value === undefined ? <p className="muted">{t('common.loading')}</p> : <pre>{JSON.stringify(value, null, 2)}</pre>}
    </details>
  );
}
