import { useCallback, useMemo } from 'react';
import { Link, useParams } from 'react-router';
import { api, listPath } from '../api/client';
import type { Device, Id, Person } from '../api/types';
import { CameraEvents } from '../cameras/CameraEvents';
import { PublishedInfoCard } from '../cameras/PublishedInfoCard';
import { ErrorAlert } from '../components/ErrorAlert';
import { Page } from '../components/Page';
import { useList, useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

/** One camera (/devices/cameras/:id): its configuration on the bus and its events, live. */
export function CameraPage() {
  const { t } = useI18n();
  const cameraId = Number(useParams().id);
  const camera = useLoad(() => api.get<Device>(`/devices/${cameraId}`), [cameraId]);
  const people = useList<Person>(listPath('/people'));
  const names = useMemo(() => new Map((people.data ?? []).map((p) => [p.id, p.full_name])), [people.data]);
  const personName = useCallback((id: Id) => names.get(id) ?? `#${id}`, [names]);
  const found = camera.data?.type === 'CAMERA' ? camera.data : null;

  return (
    <Page title={found?.name ?? t('devices.camera')} back={<Link to="/devices">← {t('nav.devices')}</Link>}>
      {camera.error ? (
        <ErrorAlert message={camera.error} />
      ) : camera.data === null ? (
        <p className="muted">{t('common.loading')}</p>
      ) : !found ? (
        <p className="card muted">{t('camera.notFound')}</p>
      ) : (
        <>
          <PublishedInfoCard cameraId={found.id} />
          <CameraEvents camera={found} personName={personName} />
        </>
      )}
    </Page>
  );
}
