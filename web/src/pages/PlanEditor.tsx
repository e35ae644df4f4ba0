import { useEffect, useRef, useState } from 'react';
import { api, listPath } from '../api/client';
import { messageOf } from '../api/errors';
import type { Device, FloorPlan, Id } from '../api/types';
import { ErrorAlert } from '../components/ErrorAlert';
import { useI18n } from '../i18n/i18n';
import { clientToFraction, isInside, nudge, type Point } from '../map/planGeometry';

interface Drag {
  deviceId: Id;
  /** Where the device would land, or null while the pointer is off the plan. */
  point: Point | null;
}

/**
 * Placing gateways and cameras on a plan: drag a device from the list onto the image, or a
 * placed one to move it; with the keyboard, "place" puts it in the middle and the arrow
 * keys move the focused pin. Every drop saves (PATCH /devices/{id}/position).
 */
export function PlanEditor({ plan }: { plan: FloorPlan }) {
  const { t } = useI18n();
  const [devices, setDevices] = useState<Device[]>([]);
  const [drag, setDrag] = useState<Drag | null>(null);
  const [error, setError] = useState('');
  const frame = useRef<HTMLDivElement>(null);

  useEffect(() => {
    api.get<Device[]>(listPath('/devices')).then(setDevices, (e: Error) => setError(e.message));
  }, [plan.id]);

  async function place(device: Device, point: Point | null) {
    const body = point ? { floor_plan_id: plan.id, pos_x: point.x, pos_y: point.y } : { floor_plan_id: null, pos_x: null, pos_y: null };
    try {
      const saved = await api.patch<Device>(`/devices/${device.id}/position`, body);
      setDevices((all) => all.map((d) => (d.id === saved.id ? saved : d)));
      setError('');
    } catch (e) {
      setError(messageOf(e));
    }
  }

  function startDrag(device: Device, event: React.PointerEvent) {
    if (event.button !== 0) return;
    event.preventDefault();
    const pointAt = (e: PointerEvent) => {
      const rect = frame.current?.getBoundingClientRect();
      return rect && isInside(rect, e.clientX, e.clientY) ? clientToFraction(rect, e.clientX, e.clientY) : null;
    };
    setDrag({ deviceId: device.id, point: null });
    const move = (e: PointerEvent) => setDrag({ deviceId: device.id, point: pointAt(e) });
    const up = (e: PointerEvent) => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      setDrag(null);
      const point = pointAt(e);
      if (point) void place(device, point);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  const placed = devices.filter((d) => d.floor_plan_id === plan.id && d.pos_x !== null && d.pos_y !== null);
  const elsewhere = devices.filter((d) => !placed.includes(d));
  const kind = (d: Device) => (d.type === 'BLE_GATEWAY' ? t('devices.gateway') : t('devices.camera'));

  return (
    <section className="card" aria-labelledby="editor-title">
      <h2 id="editor-title">{t('site.placeDevices', { name: plan.name })}</h2>
      <p className="muted">{t('site.placeHelp')}</p>
      <ErrorAlert message={error} />
      <div className="editor-layout">
        <div className="plan-frame editor-frame" ref={frame} data-testid="plan-editor">
          {plan.image_url ? <img src={plan.image_url} alt={t('map.planImage', { name: plan.name })} draggable={false} /> : <div className="plan-placeholder">{t('map.noImage')}</div>}
          {placed.map((d) => {
            const point = drag?.deviceId === d.id && drag.point ? drag.point : { x: d.pos_x!, y: d.pos_y! };
            return (
              <button
                key={d.id}
                type="button"
                className={`pin ${d.type === 'BLE_GATEWAY' ? 'gateway' : 'camera'}`}
                style={{ left: `${point.x * 100}%`, top: `${point.y * 100}%` }}
                data-device-id={d.id}
                aria-label={`${kind(d)} ${d.name}: ${t('site.pinHelp')}`}
                title={d.name}
                onPointerDown={(e) => startDrag(d, e)}
                onKeyDown={(e) => {
                  const next = nudge({ x: d.pos_x!, y: d.pos_y! }, e.key, e.shiftKey);
                  if (next) {
                    e.preventDefault();
                    void place(d, next);
                  }
                }}
              >
                <span className="pin-label">{d.name}</span>
              </button>
            );
          })}
          {drag && drag.point && !placed.some((d) => d.id === drag.deviceId) && (
            <span className="pin ghost" style={{ left: `${drag.point.x * 100}%`, top: `${drag.point.y * 100}%` }} aria-hidden="true" />
          )}
        </div>
        <div className="editor-lists">
          <h3>{t('site.onThisPlan')}</h3>
          {placed.length === 0 ? (
            <p className="muted">{t('common.empty')}</p>
          ) : (
            <ul className="device-list">
              {placed.map((d) => (
                <li key={d.id}>
                  <span>
                    {d.name} <small className="muted">{kind(d)}</small>
                  </span>
                  <button type="button" onClick={() => place(d, null)}>
                    {t('site.removeFromPlan')}
                  </button>
                </li>
              ))}
            </ul>
          )}
          <h3>{t('site.notOnThisPlan')}</h3>
          {elsewhere.length === 0 ? (
            <p className="muted">{t('common.empty')}</p>
          ) : (
            <ul className="device-list">
              {elsewhere.map((d) => (
                <li key={d.id}>
                  <span className="draggable" onPointerDown={(e) => startDrag(d, e)} data-palette-device-id={d.id}>
                    ⠿ {d.name} <small className="muted">{kind(d)}</small>
                  </span>
                  <button type="button" onClick={() => place(d, { x: 0.5, y: 0.5 })}>
                    {t('site.placeCentre')}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </section>
  );
}
