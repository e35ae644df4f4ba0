import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import { api, collection, listPath } from '../api/client';
import type { CameraCollector, Device, DeviceStatus, GatewayStatusPayload, Id } from '../api/types';
import { CollectorsSection } from '../cameras/CollectorsSection';
import { CrudSection, type Editor } from '../components/CrudSection';
import type { Column } from '../components/DataTable';
import { numberOrNull, textOrNull, type FieldSpec } from '../components/form';
import { OnlineBadge } from '../components/OnlineBadge';
import { Page } from '../components/Page';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { openStream } from '../map/stream';

const GATEWAY_FIELDS: FieldSpec[] = [
  { name: 'name', label: 'common.name', kind: 'text', required: true },
  { name: 'mac_address', label: 'tags.mac', kind: 'text', required: true, hint: 'tags.macHint' },
  { name: 'code', label: 'site.code', kind: 'text' },
  // No min/max on purpose: the API's range message then lands next to the field.
  { name: 'rssi_at_1m', label: 'devices.rssiAt1m', kind: 'number', hint: 'devices.rssiAt1mHint' },
  { name: 'path_loss_exponent', label: 'devices.pathLoss', kind: 'number', hint: 'devices.pathLossHint' },
  { name: 'description', label: 'common.description', kind: 'textarea' },
];

const CAMERA_FIELDS: FieldSpec[] = [
  { name: 'name', label: 'common.name', kind: 'text', required: true },
  { name: 'code', label: 'site.code', kind: 'text' },
  { name: 'ip_address', label: 'devices.ip', kind: 'text' },
  { name: 'port', label: 'devices.port', kind: 'number', step: '1', min: 1 },
  { name: 'rtsp_url', label: 'devices.rtsp', kind: 'text' },
  { name: 'username', label: 'devices.username', kind: 'text', autoComplete: 'off' },
  { name: 'password', label: 'devices.password', kind: 'password', autoComplete: 'new-password', hint: 'devices.passwordHint' },
  { name: 'manufacturer', label: 'devices.manufacturer', kind: 'text' },
  { name: 'model', label: 'devices.model', kind: 'text' },
  { name: 'proxy_path', label: 'devices.proxyPath', kind: 'text', hint: 'devices.uplinkHint' },
  { name: 'central_path', label: 'devices.centralPath', kind: 'text' },
  { name: 'central_media_mtx_ip', label: 'devices.centralHost', kind: 'text' },
  { name: 'description', label: 'common.description', kind: 'textarea' },
];

// Cameras are created and edited under /devices/cameras; any device is deleted under /devices.
const DEVICES = collection<Device>('/devices');
const CAMERAS = collection<Device>('/devices/cameras');

const GATEWAY_EDITOR: Editor<Device> = {
  fields: () => GATEWAY_FIELDS,
  save: (v, d) => {
    const body = {
      type: 'BLE_GATEWAY',
      name: v.name,
      mac_address: textOrNull(v.mac_address),
      code: textOrNull(v.code),
      rssi_at_1m: numberOrNull(v.rssi_at_1m),
      path_loss_exponent: numberOrNull(v.path_loss_exponent),
      description: textOrNull(v.description),
    };
    return DEVICES.save(body, d);
  },
  remove: DEVICES.remove,
};

const CAMERA_EDITOR: Editor<Device> = {
  fields: () => CAMERA_FIELDS,
  save: (v, d) => {
    const body: Record<string, unknown> = {
      type: 'CAMERA',
      name: v.name,
      code: textOrNull(v.code),
      ip_address: textOrNull(v.ip_address),
      port: numberOrNull(v.port),
      rtsp_url: textOrNull(v.rtsp_url),
      username: textOrNull(v.username),
      manufacturer: textOrNull(v.manufacturer),
      model: textOrNull(v.model),
      proxy_path: textOrNull(v.proxy_path),
      central_path: textOrNull(v.central_path),
      central_media_mtx_ip: textOrNull(v.central_media_mtx_ip),
      description: textOrNull(v.description),
    };
    // The password is write-only: sent only when typed, so editing keeps the stored one.
    if (typeof v.password === 'string' && v.password !== '') body.password = v.password;
    return CAMERAS.save(body, d);
  },
  remove: DEVICES.remove,
};

/** Gateways and cameras, their state (online/offline live from the stream) and details. */
export function DevicesPage() {
  const { t, ago } = useI18n();
  const gateways = useList<Device>(listPath('/devices', { type: 'BLE_GATEWAY' }));
  const cameras = useList<Device>(listPath('/devices', { type: 'CAMERA' }));
  const collectors = useList<CameraCollector>('/devices/cameras/collectors');
  const reloadCollectors = collectors.reload;
  const [status, setStatus] = useState<Map<Id, DeviceStatus>>(new Map());

  useEffect(() => {
    api
      .get<DeviceStatus[]>('/devices/status')
      .then((all) => setStatus(new Map(all.map((s) => [s.id, s]))))
      .catch(() => {});
    return openStream(['GATEWAY_ONLINE', 'GATEWAY_OFFLINE', 'CAMBUS_COLLECTOR_STATUS'], {
      onState: () => {},
      onEvent: (type, envelope) => {
        // Whether a collector is alive is the API's judgement: ask again when one reports.
        if (type === 'CAMBUS_COLLECTOR_STATUS') {
          void reloadCollectors();
          return;
        }
        const p = envelope.payload as GatewayStatusPayload;
        setStatus((current) => {
          const previous = current.get(p.device_id);
          const next: DeviceStatus = { id: p.device_id, name: p.name, type: 'BLE_GATEWAY', is_online: type === 'GATEWAY_ONLINE', last_seen_at: p.last_seen_at ?? previous?.last_seen_at ?? null };
          return new Map(current).set(p.device_id, next);
        });
      },
    });
  }, [reloadCollectors]);

  const state = (d: Device) => <OnlineBadge online={status.get(d.id)?.is_online ?? false} />;
  const lastSeen = (d: Device) => ago(status.get(d.id)?.last_seen_at ?? d.last_seen_at);
  const placedLabel = (d: Device) => (d.floor_plan_id ? t('devices.placed') : t('devices.notPlaced'));
  const calibration = (d: Device) =>
    [d.rssi_at_1m === null ? '' : `${d.rssi_at_1m} dBm`, d.path_loss_exponent === null ? '' : `n = ${d.path_loss_exponent}`].filter(Boolean).join(' · ') || (
      <span className="muted">{t('devices.siteDefault')}</span>
    );

  const gatewayColumns: Column<Device>[] = [
    { header: t('common.name'), cell: (d) => d.name },
    { header: t('tags.mac'), cell: (d) => <code>{d.mac_address ?? '—'}</code> },
    { header: t('devices.state'), cell: state },
    { header: t('map.lastSeen'), cell: lastSeen },
    { header: t('devices.location'), cell: placedLabel },
    { header: t('devices.calibration'), cell: calibration },
  ];
  const cameraColumns: Column<Device>[] = [
    { header: t('common.name'), cell: (d) => d.name },
    { header: t('devices.ip'), cell: (d) => d.ip_address ?? '—' },
    { header: t('devices.manufacturer'), cell: (d) => [d.manufacturer, d.model].filter(Boolean).join(' ') || '—' },
    { header: t('devices.state'), cell: state },
    { header: t('map.lastSeen'), cell: lastSeen },
    { header: t('devices.location'), cell: placedLabel },
  ];
  const eventsLink = (d: Device) => (
    <Link className="button" to={`/devices/cameras/${d.id}`} aria-label={t('devices.eventsOf', { name: d.name })}>
      {t('camera.events')}
    </Link>
  );

  return (
    <Page title={t('nav.devices')}>
      <CrudSection<Device> id="gateways" title={t('devices.gateways')} createLabel={t('devices.newGateway')} list={gateways} columns={gatewayColumns} editor={GATEWAY_EDITOR} />
      <CrudSection<Device> id="cameras" title={t('devices.cameras')} createLabel={t('devices.newCamera')} list={cameras} columns={cameraColumns} rowActions={eventsLink} editor={CAMERA_EDITOR} />
      <CollectorsSection list={collectors} />
    </Page>
  );
}
