import { useState } from 'react';
import { api, collection, listPath } from '../api/client';
import { type AlertRule, type Device, type FloorPlan, type Person, type PersonGroup, type Zone } from '../api/types';
import { AlertEventsCard } from '../alerts/AlertEventsCard';
import { DAYS, RULE_TYPES, ruleBody, ruleFormValues, ruleUses } from '../alerts/alerts';
import { isAdmin, useAuth } from '../auth/auth';
import { Card } from '../components/Card';
import { CrudSection, type Editor } from '../components/CrudSection';
import type { Column } from '../components/DataTable';
import { optionsOf, type FormValues } from '../components/form';
import { Page } from '../components/Page';
import { PlanPicker } from '../components/PlanPicker';
import { useList, useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { incidentFields } from '../incidents/incidentFields';
import { useAssignables } from '../incidents/useAssignables';
import { ZoneEditor } from '../zones/ZoneEditor';

const RULES = collection<AlertRule>('/alert-rules');

/**
 * Alerts: the live list of alert events to work, the rules that raise them, and the zones
 * zone rules watch. The zone editor lives here rather than with the site's plans because a
 * zone exists for its rules: drawing one, then picking it in a rule, is one task.
 */
export function AlertsPage() {
  const { t } = useI18n();
  const { user } = useAuth();
  const rules = useList<AlertRule>(listPath('/alert-rules'));
  const people = useList<Person>(listPath('/people'));
  const groups = useList<PersonGroup>(listPath('/person-groups'));
  const devices = useList<Device>(listPath('/devices'));
  const plans = useList<FloorPlan>(listPath('/floor-plans'));
  const zones = useLoad(() => api.get<Zone[]>(listPath('/zones')), []);
  const assignables = useAssignables();
  const [plan, setPlan] = useState<FloorPlan | null>(null);

  const personName = (id: number) => people.data?.find((p) => p.id === id)?.full_name ?? `#${id}`;
  const planName = (id: number) => plans.data?.find((p) => p.id === id)?.name ?? `#${id}`;
  const zoneName = (id: number) => zones.data?.find((z) => z.id === id)?.name ?? `#${id}`;
  const target = (r: AlertRule) =>
    [
      r.zone_id !== null && `${t('alerts.zone')}: ${zoneName(r.zone_id)}`,
      r.device_id !== null && `${t('alerts.device')}: ${devices.data?.find((d) => d.id === r.device_id)?.name ?? `#${r.device_id}`}`,
      r.person_id !== null && personName(r.person_id),
      r.group_id !== null && `${t('alerts.group')}: ${groups.data?.find((g) => g.id === r.group_id)?.name ?? `#${r.group_id}`}`,
    ]
      .filter(Boolean)
      .join(' · ') || '—';

  const columns: Column<AlertRule>[] = [
    { header: t('common.name'), cell: (r) => r.name },
    { header: t('alerts.type'), cell: (r) => t(`alerts.type.${r.rule_type as (typeof RULE_TYPES)[number]}`) ?? r.rule_type },
    { header: t('alerts.target'), cell: target },
    { header: t('alerts.schedule'), cell: (r) => (r.schedule ? `${r.schedule.days.join(' ')} ${r.schedule.ranges.map((x) => `${x.start}–${x.end}`).join(', ')}` : t('alerts.always')) },
    { header: t('alerts.createsIncident'), cell: (r) => (r.create_incident ? r.incident_severity : t('common.no')) },
    {
      header: t('common.active'),
      cell: (r) => (
        <>
          {r.is_active ? t('common.yes') : t('common.no')}
          {r.disabled_reason && <small className="block delivery-error">{r.disabled_reason}</small>}
        </>
      ),
    },
  ];

  // The rule form shows the targets and limits of the chosen type, and the incident options
  // once "open an incident" is ticked.
  const uses = (what: keyof ReturnType<typeof ruleUses>) => (v: FormValues) => ruleUses(String(v.rule_type))[what];
  const createsIncident = (v: FormValues) => v.create_incident === true;

  const editor: Editor<AlertRule> = {
    fields: () => [
      { name: 'name', label: 'common.name', kind: 'text', required: true },
      { name: 'rule_type', label: 'alerts.type', kind: 'select', required: true, options: RULE_TYPES.map((type) => ({ value: type, label: t(`alerts.type.${type}`) })), hint: 'alerts.typeHint' },
      { name: 'zone_id', label: 'alerts.zone', kind: 'select', emptyOption: '—', options: optionsOf(zones.data, (z) => `${z.name} (${planName(z.floor_plan_id)})`), hint: 'alerts.zoneHint', shownWhen: uses('zone') },
      { name: 'device_id', label: 'alerts.device', kind: 'select', emptyOption: '—', options: optionsOf(devices.data, (d) => `${d.name} (${d.type === 'BLE_GATEWAY' ? t('devices.gateway') : t('devices.camera')})`), hint: 'alerts.deviceHint', shownWhen: uses('device') },
      { name: 'person_id', label: 'alerts.person', kind: 'select', emptyOption: t('alerts.everyone'), options: optionsOf(people.data, (p) => p.full_name), shownWhen: uses('people') },
      { name: 'group_id', label: 'alerts.group', kind: 'select', emptyOption: t('alerts.everyone'), options: optionsOf(groups.data, (g) => g.name), hint: 'alerts.peopleHint', shownWhen: uses('people') },
      { name: 'max_dwell_seconds', label: 'alerts.maxDwell', kind: 'number', step: '1', min: 0, shownWhen: uses('dwell') },
      { name: 'max_absence_seconds', label: 'alerts.maxAbsence', kind: 'number', step: '1', min: 0, hint: 'alerts.maxAbsenceHint', shownWhen: uses('absence') },
      { name: 'schedule_days', label: 'alerts.days', kind: 'checkboxes', options: DAYS.map((d) => ({ value: d, label: t(`alerts.day.${d}`) })) },
      { name: 'schedule_ranges', label: 'alerts.ranges', kind: 'text', hint: 'alerts.rangesHint' },
      { name: 'cooldown_seconds', label: 'alerts.cooldown', kind: 'number', step: '1', min: 0, hint: 'alerts.cooldownHint' },
      { name: 'is_active', label: 'common.active', kind: 'checkbox' },
      { name: 'description', label: 'common.description', kind: 'textarea' },
      { name: 'create_incident', label: 'alerts.createIncident', kind: 'checkbox', hint: 'alerts.createIncidentHint' },
      ...incidentFields(
        { severity: 'incident_severity', title: 'incident_title_template', description: 'incident_description_template', group: 'incident_assigned_group_id', user: 'incident_assigned_to_user_id' },
        assignables,
        t,
        'incidents.templateHint',
        createsIncident,
      ),
      { name: 'incident_kind', label: 'incidents.kind', kind: 'text', shownWhen: createsIncident },
      { name: 'incident_sla_minutes', label: 'incidents.slaMinutes', kind: 'number', step: '1', min: 0, shownWhen: createsIncident },
      { name: 'incident_auto_close_on_end', label: 'alerts.autoClose', kind: 'checkbox', hint: 'alerts.autoCloseHint', shownWhen: createsIncident },
    ],
    values: ruleFormValues,
    save: (v, r) => RULES.save(ruleBody(v, t('alerts.badRange')), r),
    remove: (r) => RULES.remove(r),
  };

  return (
    <Page title={t('nav.alerts')} intro={t('alerts.intro')}>
      <AlertEventsCard rules={rules.data ?? []} personName={personName} />
      <CrudSection<AlertRule> id="alert-rules" title={t('alerts.rules')} createLabel={t('alerts.newRule')} list={rules} columns={columns} editor={editor} />
      <Card id="zones" title={t('zones.title')} help={t('zones.intro')} tools={<PlanPicker idPrefix="zones" onPlan={setPlan} />}>
        {plan ? <ZoneEditor plan={plan} canEdit={isAdmin(user)} onChanged={() => void zones.reload()} /> : <p className="muted">{t('map.noPlan')}</p>}
      </Card>
    </Page>
  );
}
