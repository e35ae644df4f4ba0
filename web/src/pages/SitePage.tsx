import { useState } from 'react';
import { api, collection, listPath } from '../api/client';
import type { Building, Floor, FloorPlan } from '../api/types';
import { CrudSection, type Editor } from '../components/CrudSection';
import type { Column } from '../components/DataTable';
import { numberOrNull, textOrNull } from '../components/form';
import { Page } from '../components/Page';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { PlanEditor } from './PlanEditor';

const BUILDINGS = collection<Building>('/buildings');
const FLOORS = collection<Floor>('/floors');
const PLANS = collection<FloorPlan>('/floor-plans');

/** Buildings → floors → floor plans, then the selected plan's device placement. */
export function SitePage() {
  const { t } = useI18n();
  const [buildingId, setBuildingId] = useState<number | null>(null);
  const [floorId, setFloorId] = useState<number | null>(null);
  const [planId, setPlanId] = useState<number | null>(null);

  const buildings = useList<Building>(listPath('/buildings'));
  const floors = useList<Floor>(buildingId ? listPath('/floors', { building_id: buildingId }) : null);
  const plans = useList<FloorPlan>(floorId ? listPath('/floor-plans', { floor_id: floorId }) : null);

  const building = buildings.data?.find((b) => b.id === buildingId);
  const floor = floors.data?.find((f) => f.id === floorId);
  const plan = plans.data?.find((p) => p.id === planId);

  const selectBuilding = (b: Building) => {
    setBuildingId(b.id);
    setFloorId(null);
    setPlanId(null);
  };
  const selectFloor = (f: Floor) => {
    setFloorId(f.id);
    setPlanId(null);
  };

  const buildingColumns: Column<Building>[] = [
    { header: t('common.name'), cell: (b) => b.name },
    { header: t('site.code'), cell: (b) => b.code },
  ];
  const buildingEditor: Editor<Building> = {
    fields: () => [
      { name: 'name', label: 'common.name', kind: 'text', required: true },
      { name: 'code', label: 'site.code', kind: 'text', required: true, hint: 'site.codeHint' },
      { name: 'description', label: 'common.description', kind: 'textarea' },
    ],
    save: (v, b) => BUILDINGS.save({ name: v.name, code: v.code, description: textOrNull(v.description) }, b),
    remove: async (b) => {
      await BUILDINGS.remove(b);
      if (b.id === buildingId) setBuildingId(null);
    },
  };

  const floorColumns: Column<Floor>[] = [
    { header: t('common.name'), cell: (f) => f.name },
    { header: t('site.level'), cell: (f) => f.level ?? '—' },
  ];
  const floorEditor: Editor<Floor> = {
    fields: () => [
      { name: 'name', label: 'common.name', kind: 'text', required: true },
      { name: 'level', label: 'site.level', kind: 'number', step: '1' },
      { name: 'description', label: 'common.description', kind: 'textarea' },
    ],
    save: (v, f) => FLOORS.save({ name: v.name, level: numberOrNull(v.level), description: textOrNull(v.description), building_id: buildingId }, f),
    remove: async (f) => {
      await FLOORS.remove(f);
      if (f.id === floorId) setFloorId(null);
    },
  };

  const planColumns: Column<FloorPlan>[] = [
    { header: t('common.name'), cell: (p) => p.name },
    { header: t('site.size'), cell: (p) => (p.width_m && p.height_m ? `${p.width_m} × ${p.height_m} m` : '—') },
    { header: t('site.image'), cell: (p) => (p.image_url ? t('common.yes') : t('common.no')) },
  ];
  const planEditor: Editor<FloorPlan> = {
    fields: () => [
      { name: 'name', label: 'common.name', kind: 'text', required: true },
      { name: 'width_m', label: 'site.widthM', kind: 'number', min: 0 },
      { name: 'height_m', label: 'site.heightM', kind: 'number', min: 0 },
      { name: 'file', label: 'site.imageFile', kind: 'file', accept: 'image/png,image/jpeg,image/webp', hint: 'site.imageHint' },
      { name: 'description', label: 'common.description', kind: 'textarea' },
    ],
    save: async (v, p) => {
      const body = { name: v.name, width_m: numberOrNull(v.width_m), height_m: numberOrNull(v.height_m), description: textOrNull(v.description), floor_id: floorId };
      const saved = await PLANS.save(body, p);
      if (v.file instanceof File) {
        const upload = new FormData();
        upload.append('file', v.file);
        await api.post(`/floor-plans/${saved.id}/image`, upload);
      }
      setPlanId(saved.id);
    },
    remove: async (p) => {
      await PLANS.remove(p);
      if (p.id === planId) setPlanId(null);
    },
  };

  return (
    <Page title={t('nav.site')} intro={t('site.intro')}>
      <div className="site-grid">
        <CrudSection<Building>
          id="buildings"
          title={t('site.buildings')}
          createLabel={t('site.newBuilding')}
          list={buildings}
          selectedId={buildingId}
          onSelect={selectBuilding}
          columns={buildingColumns}
          editor={buildingEditor}
        />
        {building && (
          <CrudSection<Floor>
            id="floors"
            title={t('site.floorsOf', { name: building.name })}
            createLabel={t('site.newFloor')}
            list={floors}
            selectedId={floorId}
            onSelect={selectFloor}
            columns={floorColumns}
            editor={floorEditor}
          />
        )}
        {floor && (
          <CrudSection<FloorPlan>
            id="plans"
            title={t('site.plansOf', { name: floor.name })}
            createLabel={t('site.newPlan')}
            list={plans}
            selectedId={planId}
            onSelect={(p) => setPlanId(p.id)}
            columns={planColumns}
            editor={planEditor}
          />
        )}
      </div>
      {plan && <PlanEditor key={`${plan.id}-${plan.image_url}`} plan={plan} />}
    </Page>
  );
}
