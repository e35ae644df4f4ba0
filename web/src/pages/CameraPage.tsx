import { useCallback, useMemo } from 'react';
import { Link, useParams } from 'react-router';
import { api, listPath } from '../api/client';
import type { Device, Id, Person } from '../api/types';
import { CameraEvents } from '../cameras/CameraEvents';
import { PublishedInfoCard } from '../cameras/PublishedInfoCard';
import { useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

/** One camera (/devices/cameras/:id): its configuration on the bus and its events, live. */
export function CameraPage() {
  const { t } = useI18n();
  const cameraId = Number(useParams().id);
  const camera = useLoad(() => api.get<Device>(`/devices/${cameraId}`), [cameraId]);
  const people = useLoad(() => api.get<Person[]>(listPath('/people')));
  const names = useMemo(() => new Map((people.data ?? []).map((p) => [p.id, p.full_name])), [people.data]);
  const personName = useCallback((id: Id) => names.get(id) ?? `#${id}`, [names]);
  const found = camera.data?.type === 'CAMERA' ? camera.data : null;

  return (
    <div className="page">
      <header className="page-header">
        <Link to="/devices">← {t('nav.devices')}</Link>
        <h1>{found?.name ?? t('devices.camera')}</h1>
      </header>
      {camera.error ? (
        <p className="form-error" role="alert">
          {camera.error}
        </p>
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
    </div>
  );
}
