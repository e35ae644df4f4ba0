import { useEffect, useState } from 'react';
import { api, listPath } from '../api/client';
import type { Building, Floor, FloorPlan } from '../api/types';
import { useI18n } from '../i18n/i18n';

const LAST_PLAN_KEY = 'sv.lastPlan';

interface Choice {
  buildingId: number | null;
  floorId: number | null;
  planId: number | null;
}

/** Building → floor → plan selectors; remembers the last plan viewed on this browser. */
export function PlanPicker({ onPlan, idPrefix }: { onPlan: (plan: FloorPlan | null) => void; idPrefix: string }) {
  const { t } = useI18n();
  const [buildings, setBuildings] = useState<Building[]>([]);
  const [floors, setFloors] = useState<Floor[]>([]);
  const [plans, setPlans] = useState<FloorPlan[]>([]);
  const [choice, setChoice] = useState<Choice>({ buildingId: null, floorId: null, planId: null });

  useEffect(() => {
    (async () => {
      const [allBuildings, allFloors, allPlans] = await Promise.all([
        api.get<Building[]>(listPath('/buildings')),
        api.get<Floor[]>(listPath('/floors')),
        api.get<FloorPlan[]>(listPath('/floor-plans')),
      ]);
      setBuildings(allBuildings);
      setFloors(allFloors);
      setPlans(allPlans);
      const remembered = allPlans.find((p) => p.id === Number(localStorage.getItem(LAST_PLAN_KEY)));
      const plan = remembered ?? allPlans[0];
      const floor = allFloors.find((f) => f.id === plan?.floor_id);
      setChoice({ buildingId: floor?.building_id ?? allBuildings[0]?.id ?? null, floorId: floor?.id ?? null, planId: plan?.id ?? null });
    })().catch(() => {});
  }, []);

  const selectedPlan = plans.find((p) => p.id === choice.planId) ?? null;
  useEffect(() => {
    if (selectedPlan) localStorage.setItem(LAST_PLAN_KEY, String(selectedPlan.id));
    onPlan(selectedPlan);
    // onPlan is the caller's setter; only a different plan matters.
  }, [selectedPlan?.id]);

  const floorsHere = floors.filter((f) => f.building_id === choice.buildingId);
  const plansHere = plans.filter((p) => p.floor_id === choice.floorId);
  const firstPlanOf = (floorId: number | null) => plans.find((p) => p.floor_id === floorId)?.id ?? null;

  return (
    <div className="plan-picker">
      <Picker
        id={`${idPrefix}-building`}
        label={t('site.building')}
        items={buildings}
        value={choice.buildingId}
        onChange={(buildingId) => {
          const floorId = floors.find((f) => f.building_id === buildingId)?.id ?? null;
          setChoice({ buildingId, floorId, planId: firstPlanOf(floorId) });
        }}
      />
      <Picker id={`${idPrefix}-floor`} label={t('site.floor')} items={floorsHere} value={choice.floorId} onChange={(floorId) => setChoice({ ...choice, floorId, planId: firstPlanOf(floorId) })} />
      <Picker id={`${idPrefix}-plan`} label={t('site.plan')} items={plansHere} value={choice.planId} onChange={(planId) => setChoice({ ...choice, planId })} />
    </div>
  );
}

interface PickerProps {
  id: string;
  label: string;
  items: { id: number; name: string }[];
  value: number | null;
  onChange: (id: number | null) => void;
}

/** One labelled select of named items; "none yet" stands in an empty one. */
function Picker({ id, label, items, value, onChange }: PickerProps) {
  const { t } = useI18n();
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value ?? ''} onChange={(e) => onChange(Number(e.target.value) || null)}>
        {items.length === 0 && <option value="">{t('common.noneYet')}</option>}
        {items.map((item) => (
          <option key={item.id} value={item.id}>
            {item.name}
          </option>
        ))}
      </select>
    </>
  );
}
