import { describe, expect, it } from 'vitest';
import { asText, formValues, ids, numberOrNull, optionsOf, textOrNull, visibleFields, type FieldSpec } from './form';

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

describe('formValues', () => {
  const fields: FieldSpec[] = [
    { name: 'name', label: 'common.name', kind: 'text', required: true },
    { name: 'level', label: 'site.level', kind: 'number' },
    { name: 'person_id', label: 'tags.person', kind: 'select', options: [] },
    { name: 'active', label: 'common.active', kind: 'checkbox' },
    { name: 'password', label: 'auth.password', kind: 'password' },
    { name: 'file', label: 'site.imageFile', kind: 'file' },
    { name: 'group_ids', label: 'people.groups', kind: 'checkboxes', options: [] },
  ];

  it('reads each field from the property of the same name, as text', () => {
    const row = { name: 'HQ', level: 0, person_id: null, active: false, password: 'never shown', group_ids: [1] };
    expect(formValues(fields, row)).toEqual({ name: 'HQ', level: '0', person_id: '', active: false, password: '', file: null, group_ids: [] });
  });

  it('starts a new row empty, with its checkboxes ticked', () => {
    expect(formValues(fields, null)).toEqual({ name: '', level: '', person_id: '', active: true, password: '', file: null, group_ids: [] });
  });
});

describe('fields shown for some values', () => {
  const fields: FieldSpec[] = [
    { name: 'rule_type', label: 'alerts.type', kind: 'select', options: [] },
    { name: 'zone_id', label: 'alerts.zone', kind: 'select', options: [], shownWhen: (v) => v.rule_type === 'ZONE_ENTER' },
    { name: 'create_incident', label: 'alerts.createIncident', kind: 'checkbox' },
  ];

  it('shows a conditional field only while its condition holds', () => {
    expect(visibleFields(fields, { rule_type: 'ZONE_ENTER' }).map((f) => f.name)).toEqual(['rule_type', 'zone_id', 'create_incident']);
    expect(visibleFields(fields, { rule_type: 'GATEWAY_OFFLINE' }).map((f) => f.name)).toEqual(['rule_type', 'create_incident']);
  });

  it('offers rows as options by id', () => {
    expect(optionsOf([{ id: 3, name: 'Lab' }], (r) => r.name)).toEqual([{ value: '3', label: 'Lab' }]);
    expect(optionsOf(null, () => '')).toEqual([]);
  });
});
