import { useState } from 'react';
import { useI18n } from '../i18n/i18n';

export function CopyButton({ text }: { text: string }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      onClick={async () => {
        await navigator.clipboard.writeText(text);
        setCopied(true);
      }}
    >
      {copied ? t('common.copied') : t('common.copy')}
    </button>
  );
}
