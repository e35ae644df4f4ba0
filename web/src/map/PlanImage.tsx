import type { FloorPlan } from '../api/types';
import { useI18n } from '../i18n/i18n';
import type { ViewSize } from './planGeometry';

/** A plan's image (reporting its natural size once loaded), or a placeholder of the view's shape. */
export function PlanImage({ plan, view, onSize }: { plan: FloorPlan; view: ViewSize; onSize: (size: { w: number; h: number }) => void }) {
  const { t } = useI18n();
  return plan.image_url ? (
    <img src={plan.image_url} alt={t('map.planImage', { name: plan.name })} draggable={false} onLoad={(e) => onSize({ w: e.currentTarget.naturalWidth, h: e.currentTarget.naturalHeight })} />
  ) : (
    <div className="plan-placeholder" style={{ aspectRatio: `${view.width} / ${view.height}` }}>
      {t('map.noImage')}
    </div>
  );
}
