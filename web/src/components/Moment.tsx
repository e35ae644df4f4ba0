import { useI18n } from '../i18n/i18n';

/** A past moment: how long ago, and the date and time under it; "never" when there is none. */
export function Moment({ at }: { at: string | null }) {
  const { ago, language } = useI18n();
  if (!at) return <>{ago(null)}</>;
  return (
    <>
      <time dateTime={at}>{ago(at)}</time>
      <small className="muted block">{new Date(at).toLocaleString(language === 'pt' ? 'pt-BR' : 'en')}</small>
    </>
  );
}
