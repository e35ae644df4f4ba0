import { LANGUAGES, useI18n } from '../i18n/i18n';

export function LanguageSwitch() {
  const { language, setLanguage, t } = useI18n();
  return (
    <div className="language-switch" role="group" aria-label={t('common.language')}>
      {LANGUAGES.map((l) => (
        <button key={l} type="button" aria-pressed={l === language} onClick={() => setLanguage(l)} lang={l === 'pt' ? 'pt-BR' : 'en'}>
          {l === 'pt' ? 'Português' : 'English'}
        </button>
      ))}
    </div>
  );
}
