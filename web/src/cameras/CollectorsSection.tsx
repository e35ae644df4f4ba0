import type { CameraCollector } from '../api/types';
import { useI18n } from '../i18n/i18n';

interface Props {
  rows: CameraCollector[] | null;
  loadError: string;
  onRefresh: () => void;
}

/** The camera collectors heard on the bus and whether they are alive (the API decides, when asked). */
export function CollectorsSection({ rows, loadError, onRefresh }: Props) {
  const { t, ago } = useI18n();
  return (
    <section className="card" aria-labelledby="collectors-title">
      <header className="card-header">
        <h2 id="collectors-title">{t('collectors.title')}</h2>
        <button type="button" onClick={onRefresh}>
          {t('common.refresh')}
        </button>
      </header>
      <p className="muted">{t('collectors.help')}</p>
      {loadError && (
        <p className="form-error" role="alert">
          {loadError}
        </p>
      )}
      {rows === null ? (
        <p className="muted">{t('common.loading')}</p>
      ) : rows.length === 0 ? (
        <p className="muted">{t('collectors.none')}</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t('collectors.tenant')}</th>
                <th scope="col">{t('site.building')}</th>
                <th scope="col">{t('devices.state')}</th>
                <th scope="col">{t('collectors.status')}</th>
                <th scope="col">{t('map.lastSeen')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr key={`${c.tenant}/${c.building}`}>
                  <td>
                    <code>{c.tenant}</code>
                  </td>
                  <td>
                    <code>{c.building}</code>
                  </td>
                  <td>
                    <span className={`badge ${c.alive ? 'ok' : 'off'}`}>{t(c.alive ? 'devices.online' : 'devices.offline')}</span>
                  </td>
                  <td>{c.status}</td>
                  <td>{ago(c.last_seen_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
