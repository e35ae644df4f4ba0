// The fields an alert rule and an incident rule share for the incident they open.
import { SEVERITIES } from '../api/types';
import { optionsOf, type FieldSpec, type FormValues } from '../components/form';
import type { I18n } from '../i18n/i18n';
import type { Assignables } from './useAssignables';

interface Names {
  severity: string;
  title: string;
  description: string;
  group: string;
  user: string;
}

/** Severity, title and description templates, support group and user, under the API's `names`. */
export function incidentFields(names: Names, assignables: Assignables, t: I18n['t'], templateHint: FieldSpec['hint'], shownWhen?: (v: FormValues) => boolean): FieldSpec[] {
  return [
    { name: names.severity, label: 'incidents.severity', kind: 'select', required: true, options: SEVERITIES.map((s) => ({ value: s, label: t(`incidents.severity.${s}`) })), shownWhen },
    { name: names.title, label: 'incidents.titleTemplate', kind: 'text', hint: templateHint, shownWhen },
    { name: names.description, label: 'incidents.descriptionTemplate', kind: 'textarea', shownWhen },
    { name: names.group, label: 'incidents.assignedGroup', kind: 'select', emptyOption: '—', options: optionsOf(assignables.groups, (g) => g.name), shownWhen },
    { name: names.user, label: 'incidents.assignedUser', kind: 'select', emptyOption: '—', options: optionsOf(assignables.users, (u) => u.full_name || u.email), shownWhen },
  ];
}
