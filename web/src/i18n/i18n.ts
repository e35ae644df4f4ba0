// Language choice and message lookup. The choice is kept in localStorage; without one, the
// browser's language decides (Portuguese for pt-*, English otherwise).
import { createContext, useContext } from 'react';
import { messages, type Language, type MessageKey } from './messages';

export type { Language, MessageKey };
export const LANGUAGES: Language[] = ['pt', 'en'];
const LANGUAGE_KEY = 'sv.language';

export function detectLanguage(stored: string | null, browserLanguage: string | undefined): Language {
  if (stored === 'pt' || stored === 'en') return stored;
  return browserLanguage?.toLowerCase().startsWith('pt') ? 'pt' : 'en';
}

export function initialLanguage(): Language {
  return detectLanguage(localStorage.getItem(LANGUAGE_KEY), navigator.language);
}

export function storeLanguage(language: Language) {
  localStorage.setItem(LANGUAGE_KEY, language);
  document.documentElement.lang = language === 'pt' ? 'pt-BR' : 'en';
}

/** `{name}` placeholders are replaced by `params.name`. */
export function translate(language: Language, key: MessageKey, params?: Record<string, string | number>) {
  const text: string = messages[language][key];
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** "5 s ago", "3 min ago", … in the chosen language. */
export function formatAgo(language: Language, then: string | null, now = Date.now()): string {
  if (!then) return translate(language, 'common.never');
  const seconds = Math.max(0, Math.round((now - Date.parse(then)) / 1000));
  if (seconds < 60) return translate(language, 'time.secondsAgo', { n: seconds });
  if (seconds < 3600) return translate(language, 'time.minutesAgo', { n: Math.floor(seconds / 60) });
  if (seconds < 86400) return translate(language, 'time.hoursAgo', { n: Math.floor(seconds / 3600) });
  return new Date(then).toLocaleString(language === 'pt' ? 'pt-BR' : 'en');
}

export interface I18n {
  language: Language;
  setLanguage: (language: Language) => void;
  t: (key: MessageKey, params?: Record<string, string | number>) => string;
  ago: (then: string | null) => string;
}

export const I18nContext = createContext<I18n | null>(null);

export function useI18n(): I18n {
  const i18n = useContext(I18nContext);
  if (!i18n) throw new Error('useI18n outside I18nContext');
  return i18n;
}
