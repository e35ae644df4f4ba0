import { useMemo, useState, type ReactNode } from 'react';
import { I18nContext, formatAgo, initialLanguage, storeLanguage, translate, type Language } from './i18n';

export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setLanguageState] = useState<Language>(() => {
    const language = initialLanguage();
    document.documentElement.lang = language === 'pt' ? 'pt-BR' : 'en';
    return language;
  });
  const value = useMemo(
    () => ({
      language,
      setLanguage: (next: Language) => {
        storeLanguage(next);
        setLanguageState(next);
      },
      t: (key: Parameters<typeof translate>[1], params?: Record<string, string | number>) =>
        translate(language, key, params),
      ago: (then: string | null) => formatAgo(language, then),
    }),
    [language],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}
