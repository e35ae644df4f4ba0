import { describe, expect, it } from 'vitest';
import { asText, ids, numberOrNull, textOrNull } from './form';

describe('form values to API bodies', () => {
  it('sends null for empty text, so the API clears the field', () => {
    expect(textOrNull('  ')).toBeNull();
    expect(textOrNull(' HQ ')).toBe('HQ');
    expect(textOrNull(null)).toBeNull();
  });

  it('reads numbers typed with a decimal comma', () => {
    expect(numberOrNull('12,5')).toBe(12.5);
    expect(numberOrNull('')).toBeNull();
    expect(numberOrNull('abc')).toBeNull();
  });

  it('converts selections and API values', () => {
    expect(ids(['1', '3'])).toEqual([1, 3]);
    expect(ids(null)).toEqual([]);
    expect(asText(null)).toBe('');
    expect(asText(0)).toBe('0');
  });
});
