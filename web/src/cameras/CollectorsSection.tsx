import type { CameraCollector } from '../api/types';
import { Card } from '../components/Card';
import { DataTable } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { OnlineBadge } from '../components/OnlineBadge';
import type { Loaded } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';

/** The camera collectors heard on the bus and whether they are alive (the API decides, when asked). */
export function CollectorsSection({ list }: { list: Loaded<CameraCollector[]> }) {
  const { t, ago } = useI18n();
  return (
    <Card
      id="collectors"
      title={t('collectors.title')}
      help={t('collectors.help')}
      onRefresh={() => void list.reload()}
    >
      <ErrorAlert message={list.error} />
      <DataTable
        rows={list.data}
        rowKey={(c) => `${c.tenant}/${c.building}`}
        empty={t('collectors.none')}
        columns={[
          { header: t('collectors.tenant'), cell: (c) => <code>{c.tenant}</code> },
          { header: t('site.building'), cell: (c) => <code>{c.building}</code> },
          { header: t('devices.state'), cell: (c) => <OnlineBadge online={c.alive} /> },
          { header: t('collectors.status'), cell: (c) => c.status },
          { header: t('map.lastSeen'), cell: (c) => ago(c.last_seen_at) },
        ]}
      />
    </Card>
  );
}
