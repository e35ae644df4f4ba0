import { describe, expect, it } from 'vitest';
import { detectLanguage, formatAgo, translate } from './i18n';
import { en, pt } from './messages';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('messages', () => {
  it('has every key in both languages, none empty', () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(pt).sort());
    for (const [key, text] of [...Object.entries(pt), ...Object.entries(en)]) {
      expect(text.trim(), key).not.toBe('');
    }
  });

  it('uses the same placeholders in both languages', () => {
    for (const key of Object.keys(pt) as (keyof typeof pt)[]) {
      expect(placeholders(en[key]), key).toEqual(placeholders(pt[key]));
    }
  });
});

describe('language', () => {
  it('prefers the stored choice, else the browser’s language', () => {
    expect(detectLanguage('en', 'pt-BR')).toBe('en');
    expect(detectLanguage(null, 'pt-BR')).toBe('pt');
    expect(detectLanguage(null, 'pt')).toBe('pt');
    expect(detectLanguage(null, 'en-US')).toBe('en');
    expect(detectLanguage('klingon', 'de-DE')).toBe('en');
  });

  it('fills placeholders', () => {
    expect(translate('pt', 'map.peopleHere', { n: 3 })).toBe('Nesta planta (3)');
    expect(translate('en', 'site.floorsOf', { name: 'HQ' })).toBe('Floors of HQ');
  });

  it('says how long ago something was seen', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(formatAgo('pt', '2026-01-01T11:59:55Z', now)).toBe('há 5 s');
    expect(formatAgo('en', '2026-01-01T11:57:00Z', now)).toBe('3 min ago');
    expect(formatAgo('en', null, now)).toBe('never');
  });
});
