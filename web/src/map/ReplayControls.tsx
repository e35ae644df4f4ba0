import { useEffect, useState } from 'react';
import type { Id } from '../api/types';
import { ErrorAlert } from '../components/ErrorAlert';
import { useI18n } from '../i18n/i18n';
import { lastHours, parseWindow } from './history';
import { SPEEDS } from './replay';
import type { Replay } from './useReplay';
import { WindowPicker } from './WindowPicker';

const MAX_TRAIL_SECONDS = 3600;

/** The replay's window and filter, then play/pause, speed, the time slider and the trail length. */
export function ReplayControls({ replay, planId, people }: { replay: Replay; planId: Id; people: { id: Id; name: string }[] }) {
  const { t, language } = useI18n();
  // What was chosen before going back to live, else the last hour.
  const [span, setSpan] = useState(() => replay.choice.current?.span ?? lastHours(1));
  const [personId, setPersonId] = useState<Id | null>(() => replay.choice.current?.personId ?? null);
  const [problem, setProblem] = useState('');

  const load = () => {
    const parsed = parseWindow(span);
    if (typeof parsed === 'string') {
      setProblem(t(parsed === 'order' ? 'history.order' : 'history.invalid'));
      return;
    }
    setProblem('');
    replay.choice.current = { span, personId };
    void replay.load({ personId, ...parsed });
  };
  // Loaded as soon as replay is chosen (unless this plan's replay is still there) or the plan changes.
  useEffect(() => {
    if (replay.loaded?.source.planId !== planId) load();
  }, [planId]);

  const loaded = replay.loaded;
  const format = new Intl.DateTimeFormat(language === 'pt' ? 'pt-BR' : 'en', { dateStyle: 'short', timeStyle: 'medium' });
  const empty = loaded !== null && loaded.source.firstAt() === null;
  return (
    <div className="replay-controls" role="group" aria-label={t('replay.controls')}>
      <div className="filters">
        <WindowPicker idPrefix="replay" value={span} onChange={setSpan} presets={[1, 8, 24]} />
        <div className="field">
          <label htmlFor="replay-person">{t('replay.person')}</label>
          <select id="replay-person" value={personId ?? ''} onChange={(e) => setPersonId(Number(e.target.value) || null)}>
            <option value="">{t('replay.wholePlan')}</option>
            {people.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
        <button type="button" onClick={load} disabled={replay.loading}>
          {replay.loading ? t('common.loading') : t('replay.load')}
        </button>
      </div>
      <ErrorAlert message={problem || replay.error} />
      {loaded?.truncated && <p className="notice">{t('replay.truncated')}</p>}
      {empty && <p className="muted">{t('replay.empty')}</p>}
      {loaded && !empty && (
        <div className="filters replay-player">
          <button type="button" className="primary" onClick={replay.playing ? replay.pause : replay.play}>
            {replay.playing ? t('replay.pause') : t('replay.play')}
          </button>
          <div className="field">
            <label htmlFor="replay-speed">{t('replay.speed')}</label>
            <select id="replay-speed" value={replay.speed} onChange={(e) => replay.setSpeed(Number(e.target.value))}>
              {SPEEDS.map((s) => (
                <option key={s} value={s}>
                  {s}×
                </option>
              ))}
            </select>
          </div>
          <div className="field replay-slider">
            <label htmlFor="replay-time">{t('replay.time')}</label>
            <input
              id="replay-time"
              type="range"
              min={loaded.clock.from}
              max={loaded.clock.to}
              step={1000}
              // On the slider's one-second steps, so that the arrow keys move by one step.
              value={loaded.clock.from + Math.round((replay.time - loaded.clock.from) / 1000) * 1000}
              aria-valuetext={format.format(replay.time)}
              onChange={(e) => replay.seek(Number(e.target.value))}
            />
            <output htmlFor="replay-time" data-testid="replay-time">
              {format.format(replay.time)}
            </output>
          </div>
          <div className="field">
            <label htmlFor="replay-trail">{t('replay.trail')}</label>
            <input
              id="replay-trail"
              type="number"
              min={0}
              max={MAX_TRAIL_SECONDS}
              step={10}
              value={replay.trailSeconds}
              onChange={(e) => replay.setTrailSeconds(Math.min(MAX_TRAIL_SECONDS, Math.max(0, Number(e.target.value) || 0)))}
            />
          </div>
        </div>
      )}
    </div>
  );
}
