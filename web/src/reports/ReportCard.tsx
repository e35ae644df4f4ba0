import { useState, type ReactNode } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import { Card } from '../components/Card';
import { ErrorAlert } from '../components/ErrorAlert';
import { useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { formatBucket, formatDuration, formatInstant, formatNumber, type BucketSize } from './format';
import { csvPath, fallbackFilename, filenameFrom } from './request';
import type { ReportWindow } from './window';

interface Props<T> {
  id: string;
  title: string;
  /** The report's request; null until its subject (a person, a gateway…) is chosen. */
  path: string | null;
  window: ReportWindow;
  help?: string;
  tools?: ReactNode;
  children: (report: T) => ReactNode;
}

/** One report: loaded when its request changes, its API error shown, downloadable as CSV. */
export function ReportCard<T>({ id, title, path, window, help, tools, children }: Props<T>) {
  const { t } = useI18n();
  const report = useLoad(() => (path ? api.get<T>(path) : Promise.resolve(null)), [path]);
  return (
    <Card
      id={id}
      title={title}
      help={help}
      tools={
        <div className="report-tools no-print">
          {tools}
          {path && <DownloadCsv path={path} window={window} title={title} />}
        </div>
      }
    >
      <ErrorAlert message={report.error} />
      {!path ? null : report.error ? null : report.data === null ? <p className="muted">{t('common.loading')}</p> : children(report.data)}
    </Card>
  );
}

/** Saves a downloaded file under `name` (the browser's download, as a link would). */
function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later: some browsers read the blob only after the click returns.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The report as CSV: fetched with the token (a link cannot carry it), then saved. */
function DownloadCsv({ path, window, title }: { path: string; window: ReportWindow; title: string }) {
  const { t } = useI18n();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const download = async () => {
    setBusy(true);
    setError('');
    try {
      const { blob, disposition } = await api.download(csvPath(path));
      saveBlob(blob, filenameFrom(disposition, fallbackFilename(path, window)));
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" onClick={() => void download()} disabled={busy} aria-label={`${t('reports.downloadCsv')}: ${title}`}>
        {t('reports.downloadCsv')}
      </button>
      <ErrorAlert message={error} />
    </>
  );
}

/** Headline numbers of a report, as a definition list of tiles. */
export function Counts({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="counts report-counts">
      {items.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Formatting in the page's language and the report's time zone. */
export function useReportFormat(zone: string) {
  const { language } = useI18n();
  return {
    duration: formatDuration,
    number: (value: number | null | undefined, digits = 0) => formatNumber(value, language, digits),
    instant: (iso: string | null | undefined) => formatInstant(iso, language, zone),
    bucket: (iso: string, size: BucketSize) => formatBucket(iso, size, language, zone),
  };
}
