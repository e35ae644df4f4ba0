import { useState } from 'react';
import { listPath } from '../api/client';
import type { Device, Tag } from '../api/types';
import { DataTable } from '../components/DataTable';
import { ErrorAlert } from '../components/ErrorAlert';
import { SelectFilter } from '../components/SelectFilter';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { reportPath } from './request';
import { ReportCard, useReportFormat } from './ReportCard';
import type { PanelProps } from './panel';
import type { DwellSession } from './types';

const PAGE = 100;

/** The raw presence sessions that lie inside the window, newest first, a page at a time. */
export function SessionsPanel(props: PanelProps) {
  const { t } = useI18n();
  const f = useReportFormat(props.filters.tz);
  const gateways = useList<Device>(listPath('/devices', { type: 'BLE_GATEWAY' }));
  const tags = useList<Tag>(listPath('/tags'));
  const { gateway, tag } = props.filters;
  // A new window or filter starts again at the first page.
  const scope = [props.window.from_ts, props.window.to_ts, gateway, tag].join('|');
  const [paging, setPaging] = useState({ scope, page: 0 });
  const page = paging.scope === scope ? paging.page : 0;
  const setPage = (next: number) => setPaging({ scope, page: next });
  const path = reportPath('/reports/dwell-sessions', {
    from_ts: props.window.from_ts,
    to_ts: props.window.to_ts,
    device_id: gateway,
    tag_id: tag,
    skip: page * PAGE,
    limit: PAGE,
  });
  const gatewayName = (id: number) => gateways.data?.find((g) => g.id === id)?.name ?? `#${id}`;
  const tagName = (id: number) => {
    const found = tags.data?.find((x) => x.id === id);
    return found ? (found.label ? `${found.label} (${found.mac_address})` : found.mac_address) : `#${id}`;
  };

  return (
    <>
      <div className="filters">
        <SelectFilter id="report-sessions-gateway" label={t('reports.gateway')} value={gateway} options={(gateways.data ?? []).map((g) => [String(g.id), g.name])} onChange={(value) => props.setFilters({ gateway: value })} any={t('reports.allGateways')} />
        <SelectFilter id="report-sessions-tag" label={t('reports.tag')} value={tag} options={(tags.data ?? []).map((x) => [String(x.id), tagName(x.id)])} onChange={(value) => props.setFilters({ tag: value })} any={t('reports.allTags')} />
      </div>
      <ErrorAlert message={gateways.error || tags.error} />
      <ReportCard<DwellSession[]> id="report-sessions" title={t('reports.sessionsList')} help={t('reports.sessionsHelp')} path={path} window={props.window}>
        {(sessions) => (
          <>
            <DataTable
              rows={sessions}
              rowKey={(s) => s.id}
              empty={t('reports.noData')}
              columns={[
                { header: t('reports.start'), cell: (s) => f.instant(s.started_at) },
                { header: t('reports.end'), cell: (s) => (s.is_open || !s.ended_at ? t('reports.open') : f.instant(s.ended_at)) },
                { header: t('reports.gateway'), cell: (s) => gatewayName(s.device_id) },
                { header: t('reports.tag'), cell: (s) => tagName(s.tag_id) },
                { header: t('reports.dwell'), cell: (s) => f.duration(s.duration_seconds) },
                { header: t('reports.samples'), cell: (s) => f.number(s.samples_count) },
              ]}
            />
            <div className="form-actions report-pager no-print">
              <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
                {t('reports.previousPage')}
              </button>
              <span className="muted">{t('reports.pageN', { n: page + 1 })}</span>
              <button type="button" disabled={sessions.length < PAGE} onClick={() => setPage(page + 1)}>
                {t('reports.nextPage')}
              </button>
            </div>
          </>
        )}
      </ReportCard>
    </>
  );
}
