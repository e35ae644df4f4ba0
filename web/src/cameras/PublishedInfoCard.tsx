import { useState } from 'react';
import { api, ApiError } from '../api/client';
import { messageOf } from '../api/errors';
import type { Id, PublishedInfo } from '../api/types';
import { Card } from '../components/Card';
import { ErrorAlert } from '../components/ErrorAlert';
import { JsonDetails } from '../components/JsonDetails';
import { useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

type Published = PublishedInfo | 'not-published';

/** The camera's configuration as the appliance publishes it on the bus, and the uplink commands. */
export function PublishedInfoCard({ cameraId }: { cameraId: Id }) {
  const { t, ago } = useI18n();
  const info = useLoad<Published>(
    () =>
      api.get<PublishedInfo>(`/devices/cameras/${cameraId}/info`).catch((e) => {
        // The camera exists (the page loaded it): a 404 here means nothing published yet.
        if (e instanceof ApiError && e.status === 404) return 'not-published' as const;
        throw e;
      }),
    [cameraId],
  );
  const [uplink, setUplink] = useState<{ ok: boolean; text: string } | null>(null);

  async function sendUplink(action: 'start' | 'stop') {
    try {
      const queued = await api.post<{ topic: string }>(`/devices/cameras/${cameraId}/uplink/${action}`);
      setUplink({ ok: true, text: t('camera.uplinkQueued', { topic: queued.topic }) });
    } catch (e) {
      setUplink({ ok: false, text: messageOf(e) });
    }
  }

  const published = info.data;
  return (
    <Card
      id="published"
      title={t('camera.published')}
      onRefresh={() => void info.reload()}
    >
      <ErrorAlert message={info.error} />
      {published === null ? (
        <p className="muted">{t('common.loading')}</p>
      ) : published === 'not-published' ? (
        <p className="muted">{t('camera.notPublished')}</p>
      ) : (
        <>
          <dl className="facts">
            <dt>{t('camera.topic')}</dt>
            <dd>
              <code>{published.topic}</code>
            </dd>
            <dt>{t('devices.state')}</dt>
            <dd>
              {published.pending ? (
                <span className="badge off">{t('camera.pending', { n: published.attempts })}</span>
              ) : (
                <>
                  <span className="badge ok">{t('camera.isPublished')}</span> <span className="muted">{ago(published.published_at)}</span>
                </>
              )}
            </dd>
            {published.pending && published.last_error && (
              <>
                <dt>{t('camera.lastError')}</dt>
                <dd>{published.last_error}</dd>
              </>
            )}
          </dl>
          <JsonDetails summary={t('camera.config')} value={published.payload} />
        </>
      )}
      <div className="form-actions uplink-actions">
        <button type="button" onClick={() => void sendUplink('start')}>
          {t('camera.uplinkStart')}
        </button>
        <button type="button" onClick={() => void sendUplink('stop')}>
          {t('camera.uplinkStop')}
        </button>
      </div>
      {uplink && (
        <p className={uplink.ok ? 'success' : 'form-error'} role={uplink.ok ? 'status' : 'alert'}>
          {uplink.text}
        </p>
      )}
    </Card>
  );
}
