import { Card } from '../components/Card';
import { DataTable } from '../components/DataTable';
import { useI18n } from '../i18n/i18n';
import type { CalibrationView, GatewayRow, PointRow } from './calibration';

const metres = (value: number | null) => (value === null ? '—' : `${value.toFixed(2)} m`);
const signed = (value: number | null, digits: number, unit = '') => (value === null ? '' : `${value > 0 ? '+' : value < 0 ? '−' : '±'}${Math.abs(value).toFixed(digits)}${unit}`);

/** A fit's answer: the totals, per gateway the values before and fitted, per point the errors. */
export function CalibrationResult({ view, stale }: { view: CalibrationView; stale: boolean }) {
  const { t } = useI18n();
  const fittedValue = (value: number | null, change: number | null, digits: number) =>
    value === null ? '—' : `${value.toFixed(digits)} (${signed(change, digits)})`;
  return (
    <Card id="calib-result" title={t('calib.result')}>
      {stale && (
        <p className="notice" role="status">
          {t('calib.stale')}
        </p>
      )}
      {view.applied && (
        <p className="success" role="status">
          {t('calib.applied', { n: view.fittedGateways })}
        </p>
      )}
      <dl className="facts" data-testid="calibration-totals">
        <dt>{t('calib.meanBefore')}</dt>
        <dd>{metres(view.meanBefore)}</dd>
        <dt>{t('calib.meanAfter')}</dt>
        <dd>
          {metres(view.meanAfter)}
          {view.meanChange !== null && ` (${signed(view.meanChange, 2, ' m')}${view.improvementPercent === null ? '' : `, ${t('calib.improvement', { n: view.improvementPercent })}`})`}
        </dd>
        <dt>{t('calib.fittedGateways')}</dt>
        <dd>{t('calib.fittedOf', { n: view.fittedGateways, total: view.gateways.length })}</dd>
      </dl>
      <h3>{t('calib.gateways')}</h3>
      <DataTable<GatewayRow>
        rows={view.gateways}
        rowKey={(g) => g.device_id}
        rowProps={(g) => ({ 'data-gateway-id': g.device_id, className: g.fitted ? '' : 'muted' })}
        columns={[
          { header: t('common.name'), cell: (g) => g.name },
          { header: t('calib.samples'), cell: (g) => g.samples },
          { header: t('calib.rssiBefore'), cell: (g) => g.rssi_at_1m_before.toFixed(1) },
          { header: t('calib.rssiFitted'), cell: (g) => fittedValue(g.rssi_at_1m, g.rssiChange, 1) },
          { header: t('calib.exponentBefore'), cell: (g) => g.path_loss_exponent_before.toFixed(2) },
          { header: t('calib.exponentFitted'), cell: (g) => fittedValue(g.path_loss_exponent, g.exponentChange, 2) },
          { header: t('calib.residual'), cell: (g) => (g.residual_db === null ? '—' : `${g.residual_db.toFixed(1)} dB`) },
          { header: t('calib.note'), cell: (g) => g.reason ?? (view.applied ? t('calib.saved') : t('calib.fitted')) },
        ]}
      />
      <h3>{t('calib.points')}</h3>
      <DataTable<PointRow>
        rows={view.points}
        rowKey={(p) => p.number}
        rowProps={(p) => ({ 'data-point-number': p.number })}
        columns={[
          { header: t('calib.point'), cell: (p) => p.number },
          { header: t('calib.samples'), cell: (p) => p.samples },
          { header: t('calib.errorBefore'), cell: (p) => metres(p.error_before_m) },
          { header: t('calib.errorAfter'), cell: (p) => metres(p.error_after_m) },
          { header: t('calib.change'), cell: (p) => (p.change === null ? t('calib.notLocated') : signed(p.change, 2, ' m')) },
        ]}
      />
      <p className="muted">{t('calib.ringsHelp')}</p>
    </Card>
  );
}
