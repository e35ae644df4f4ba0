import { useI18n } from '../i18n/i18n';
import { lastHours, type WindowDraft } from './history';

/** A time window: from/to in the browser's time zone, with shortcuts for the last hours. */
export function WindowPicker({ idPrefix, value, onChange, presets }: { idPrefix: string; value: WindowDraft; onChange: (value: WindowDraft) => void; presets: number[] }) {
  const { t } = useI18n();
  return (
    <>
      <div className="field">
        <label htmlFor={`${idPrefix}-from`}>{t('history.from')}</label>
        <input id={`${idPrefix}-from`} type="datetime-local" value={value.from} onChange={(e) => onChange({ ...value, from: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor={`${idPrefix}-to`}>{t('history.to')}</label>
        <input id={`${idPrefix}-to`} type="datetime-local" value={value.to} onChange={(e) => onChange({ ...value, to: e.target.value })} />
      </div>
      <div className="window-presets">
        {presets.map((hours) => (
          <button key={hours} type="button" className="link" onClick={() => onChange(lastHours(hours))}>
            {hours > 24 && hours % 24 === 0 ? t('history.lastDays', { n: hours / 24 }) : t('history.last', { n: hours })}
          </button>
        ))}
      </div>
    </>
  );
}
