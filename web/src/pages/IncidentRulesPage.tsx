import { api, collection, listPath } from '../api/client';
import { type CameraGroup, type Device, type IncidentRule } from '../api/types';
import { CrudSection, type Editor } from '../components/CrudSection';
import type { Column } from '../components/DataTable';
import { idOrNull, optionsOf, textOrNull, type FormValues } from '../components/form';
import { Page } from '../components/Page';
import { useList, useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { SeverityBadge } from '../incidents/Badges';
import { incidentFields } from '../incidents/incidentFields';
import { useAssignables } from '../incidents/useAssignables';

const RULES = collection<IncidentRule>('/incident-rules', 'patch');

/** Camera events that open incidents: every matching rule applies (the cool-down is the site's). */
export function IncidentRulesPage() {
  const { t } = useI18n();
  const rules = useList<IncidentRule>(listPath('/incident-rules'));
  const cameras = useList<Device>(listPath('/devices', { type: 'CAMERA' }));
  const cameraGroups = useLoad(() => api.get<CameraGroup[]>(listPath('/devices/camera-groups')).catch((): CameraGroup[] => []));
  const assignables = useAssignables();
  const nameIn = (rows: { id: number; name: string }[] | null, id: number | null) => (id === null ? null : (rows?.find((r) => r.id === id)?.name ?? `#${id}`));

  const columns: Column<IncidentRule>[] = [
    { header: t('common.name'), cell: (r) => r.name },
    { header: t('incidentRules.analytic'), cell: (r) => (r.analytic_type ? <code>{r.analytic_type}</code> : t('incidentRules.anyAnalytic')) },
    { header: t('incidentRules.cameras'), cell: (r) => [nameIn(cameras.data, r.device_id), nameIn(cameraGroups.data, r.camera_group_id)].filter(Boolean).join(' · ') || t('incidentRules.anyCamera') },
    { header: t('incidents.severity'), cell: (r) => <SeverityBadge severity={r.severity} /> },
    { header: t('incidents.assignedTo'), cell: (r) => [nameIn(assignables.groups, r.assigned_group_id), r.assigned_to_user_id === null ? null : (assignables.users.find((u) => u.id === r.assigned_to_user_id)?.full_name ?? `#${r.assigned_to_user_id}`)].filter(Boolean).join(' · ') || '—' },
    {
      header: t('common.active'),
      cell: (r) => (
        <>
          {r.enabled ? t('common.yes') : t('common.no')}
          {r.orphaned && <small className="block delivery-error">{t('incidentRules.orphaned')}</small>}
        </>
      ),
    },
  ];

  const editor: Editor<IncidentRule> = {
    fields: () => [
      { name: 'name', label: 'common.name', kind: 'text', required: true },
      { name: 'enabled', label: 'common.active', kind: 'checkbox' },
      { name: 'analytic_type', label: 'incidentRules.analytic', kind: 'text', hint: 'incidentRules.analyticHint' },
      { name: 'camera_group_id', label: 'incidentRules.cameraGroup', kind: 'select', emptyOption: t('incidentRules.anyCamera'), options: optionsOf(cameraGroups.data, (g) => g.name) },
      { name: 'device_id', label: 'incidentRules.camera', kind: 'select', emptyOption: t('incidentRules.anyCamera'), options: optionsOf(cameras.data, (c) => c.name) },
      { name: 'tenant', label: 'incidentRules.tenant', kind: 'text' },
      ...incidentFields(
        { severity: 'severity', title: 'title_template', description: 'description_template', group: 'assigned_group_id', user: 'assigned_to_user_id' },
        assignables,
        t,
        'incidentRules.templateHint',
      ),
    ],
    values: (r): FormValues => (r ? {} : { severity: 'MEDIUM' }),
    save: (v, r) =>
      RULES.save(
        {
          name: v.name,
          enabled: v.enabled,
          analytic_type: textOrNull(v.analytic_type),
          camera_group_id: idOrNull(v.camera_group_id),
          device_id: idOrNull(v.device_id),
          tenant: textOrNull(v.tenant),
          severity: v.severity,
          title_template: textOrNull(v.title_template),
          description_template: textOrNull(v.description_template),
          assigned_group_id: idOrNull(v.assigned_group_id),
          assigned_to_user_id: idOrNull(v.assigned_to_user_id),
        },
        r,
      ),
    remove: (r) => RULES.remove(r),
  };

  return (
    <Page title={t('nav.incidentRules')} intro={t('incidentRules.intro')}>
      <CrudSection<IncidentRule> id="incident-rules" title={t('incidentRules.title')} createLabel={t('incidentRules.new')} list={rules} columns={columns} editor={editor} />
    </Page>
  );
}
