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
      <label htmlFor={`${idPrefix}-building`}>{t('site.building')}</label>
      <select
        id={`${idPrefix}-building`}
        value={choice.buildingId ?? ''}
        onChange={(e) => {
          const buildingId = Number(e.target.value) || null;
          const floorId = floors.find((f) => f.building_id === buildingId)?.id ?? null;
          setChoice({ buildingId, floorId, planId: firstPlanOf(floorId) });
        }}
      >
        {buildings.length === 0 && <option value="">{t('common.noneYet')}</option>}
        {buildings.map((b) => (
          <option key={b.id} value={b.id}>
            {b.name}
          </option>
        ))}
      </select>
      <label htmlFor={`${idPrefix}-floor`}>{t('site.floor')}</label>
      <select
        id={`${idPrefix}-floor`}
        value={choice.floorId ?? ''}
        onChange={(e) => {
          const floorId = Number(e.target.value) || null;
          setChoice({ ...choice, floorId, planId: firstPlanOf(floorId) });
        }}
      >
        {floorsHere.length === 0 && <option value="">{t('common.noneYet')}</option>}
        {floorsHere.map((f) => (
          <option key={f.id} value={f.id}>
            {f.name}
          </option>
        ))}
      </select>
      <label htmlFor={`${idPrefix}-plan`}>{t('site.plan')}</label>
      <select id={`${idPrefix}-plan`} value={choice.planId ?? ''} onChange={(e) => setChoice({ ...choice, planId: Number(e.target.value) || null })}>
        {plansHere.length === 0 && <option value="">{t('common.noneYet')}</option>}
        {plansHere.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </select>
    </div>
  );
}
