import { useCallback, useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router';
import { API, api, listPath } from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import type { Device, FloorPlan, Tag } from '../api/types';
import { isAdmin, useAuth } from '../auth/auth';
import { CalibrationPlan } from '../calibration/CalibrationPlan';
import { CalibrationResult } from '../calibration/CalibrationResult';
import {
  EMPTY_DRAFT,
  addPoint,
  buildRequest,
  clockOffsetMs,
  countReadings,
  deletePoint,
  describeProblem,
  draftKey,
  findTag,
  hasSize,
  movePoint,
  parseDraft,
  parseTag,
  placePoint,
  problems,
  recordingPoint,
  sameFit,
  serializeDraft,
  shapeResult,
  startPoint,
  stopPoint,
  type CalibrationBody,
  type CalibrationRead,
  type Draft,
  type Reading,
  type ReadingCount,
  type StandingPoint,
} from '../calibration/calibration';
import { PointList } from '../calibration/PointList';
import { Dialog } from '../components/Dialog';
import { ErrorAlert } from '../components/ErrorAlert';
import { Page } from '../components/Page';
import { PlanPicker } from '../components/PlanPicker';
import { useList } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import type { Point } from '../map/planGeometry';

/** The readings page the counts are made from (the API's largest, newest first). */
const READINGS_PAGE = 1000;
/** How often the readings of the point being recorded are counted. */
const COUNT_EVERY_MS = 3000;

/**
 * On-site calibration: the operator carries a tag to known points of a plan, records a
 * window at each, and the appliance fits the gateways' path-loss models from the readings
 * of those windows (POST /positioning/calibrations); an administrator may then apply it.
 */
export function CalibrationPage() {
  const { t } = useI18n();
  const { user } = useAuth();
  // The appliance lets only administrators fit or apply (src/api/positioning.rs).
  const admin = isAdmin(user);
  const [plan, setPlan] = useState<FloorPlan | null>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY_DRAFT);
  const [selectedId, setSelectedId] = useState<number | null>(null);
  const [counts, setCounts] = useState<Map<number, ReadingCount>>(new Map());
  const [offset, setOffset] = useState(0);
  const [fitted, setFitted] = useState<{ body: CalibrationBody; read: CalibrationRead } | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const tags = useList<Tag>(listPath('/tags'));
  const devices = useList<Device>(plan ? `/floor-plans/${plan.id}/devices` : null);

  // Windows are compared with the times the appliance stored the readings at: its clock.
  useEffect(() => {
    const sent = Date.now();
    fetch(`${API}/health`).then((r) => setOffset(clockOffsetMs(r.headers.get('Date'), sent, Date.now())), () => {});
  }, []);
  const nowIso = () => new Date(Date.now() + offset).toISOString();

  // Each plan keeps its points on this browser until they are deleted.
  useEffect(() => {
    setDraft(plan ? parseDraft(localStorage.getItem(draftKey(plan.id))) : EMPTY_DRAFT);
    setSelectedId(null);
    setCounts(new Map());
    setFitted(null);
    setFailure(null);
  }, [plan?.id]);
  const save = (next: Draft) => {
    setDraft(next);
    if (plan) localStorage.setItem(draftKey(plan.id), serializeDraft(next));
  };
  const setPoints = (points: StandingPoint[]) => save({ ...draft, points });

  const gateways = useMemo(() => (devices.data ?? []).filter((d) => d.type === 'BLE_GATEWAY' && d.pos_x !== null && d.pos_y !== null), [devices.data]);
  const gatewayIds = useMemo(() => new Set(gateways.map((g) => g.id)), [gateways]);
  const tagRef = parseTag(draft.tag);
  const tag = findTag(tags.data ?? [], tagRef);

  const count = useCallback(
    async (point: StandingPoint) => {
      if (!tag || !point.fromTs) return;
      const readings = await api.get<Reading[]>(listPath('/collection-logs', { tag_id: tag.id }));
      setCounts((all) => new Map(all).set(point.id, countReadings(readings, point.fromTs!, point.toTs, gatewayIds, READINGS_PAGE)));
    },
    [tag?.id, gatewayIds],
  );
  const recording = recordingPoint(draft.points);
  useEffect(() => {
    if (!recording) return;
    const poll = () => void count(recording).catch(() => {});
    poll();
    const timer = setInterval(poll, COUNT_EVERY_MS);
    return () => clearInterval(timer);
  }, [recording?.id, recording?.fromTs, count]);

  const place = (at: Point, how = placePoint) => {
    const next = how(draft.points, at);
    if (next === draft.points) return;
    setPoints(next);
    setSelectedId(next[next.length - 1].id);
  };
  const start = (id: number) => {
    setPoints(startPoint(draft.points, id, nowIso()));
    setCounts((all) => new Map([...all].filter(([key]) => key !== id)));
  };
  const stop = (id: number) => {
    const next = stopPoint(draft.points, id, nowIso());
    setPoints(next);
    const stopped = next.find((p) => p.id === id);
    if (stopped) void count(stopped).catch(() => {});
  };
  const remove = (id: number) => {
    setPoints(deletePoint(draft.points, id));
    if (selectedId === id) setSelectedId(null);
  };

  const issues = plan ? problems(plan, gateways.length, draft.tag, draft.points) : [];
  const body = plan && tagRef && issues.length === 0 ? buildRequest(plan.id, tagRef, draft.points, false) : null;
  const stale = !!fitted && (!body || !sameFit(fitted.body, body));
  const view = useMemo(() => (fitted ? shapeResult(fitted.read) : null), [fitted]);

  async function post(request: CalibrationBody) {
    setBusy(true);
    setFailure(null);
    try {
      setFitted({ body: request, read: await api.post<CalibrationRead>('/positioning/calibrations', request) });
    } catch (e) {
      setFailure(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title={t('nav.calibration')} intro={t('calib.intro')} tools={<PlanPicker idPrefix="calib" onPlan={setPlan} />} className="calibration">
      {!admin && (
        <p className="notice" role="note">
          {t('calib.adminsOnly')}
        </p>
      )}
      {!plan ? (
        <p className="card muted">{t('map.noPlan')}</p>
      ) : !hasSize(plan) ? (
        <p className="notice" role="alert">
          {t('calib.noSize', { name: plan.name })} <Link to="/site">{t('nav.site')}</Link>
        </p>
      ) : (
        <>
          {offset !== 0 && (
            <p className="notice" role="status">
              {t('calib.clock', { n: Math.abs(offset) / 1000 })}
            </p>
          )}
          {devices.data && gateways.length === 0 && (
            <p className="notice" role="alert">
              {t('calib.problem.noGateways')} <Link to="/devices">{t('nav.devices')}</Link>
            </p>
          )}
          <div className="editor-layout">
            <CalibrationPlan
              plan={plan}
              gateways={gateways}
              points={draft.points}
              selectedId={selectedId}
              fitted={view && !stale ? view.points : null}
              onPlace={(at) => place(at)}
              onSelect={setSelectedId}
              onMove={(id, at) => setPoints(movePoint(draft.points, id, at))}
            />
            <div className="editor-lists">
              <div className="field">
                <label htmlFor="calib-tag">{t('calib.tag')}</label>
                <input id="calib-tag" list="calib-tags" value={draft.tag} onChange={(e) => save({ ...draft, tag: e.target.value })} aria-describedby="calib-tag-found" autoComplete="off" />
                <datalist id="calib-tags">
                  {(tags.data ?? []).map((tg) => (
                    <option key={tg.id} value={tg.mac_address}>
                      {tg.label ?? ''}
                    </option>
                  ))}
                </datalist>
                <span id="calib-tag-found" className="hint">
                  {tag ? `#${tag.id} · ${tag.mac_address}${tag.label ? ` · ${tag.label}` : ''}` : tagRef && tags.data ? t('calib.tagUnknown') : t('calib.tagHint')}
                </span>
              </div>
              <p className="muted" role="status">
                {recording ? t('calib.recordingHelp') : t('calib.placeHelp')}
              </p>
              <div className="form-actions">
                <button type="button" onClick={() => place({ x: 0.5, y: 0.5 }, addPoint)} disabled={!!recording}>
                  {t('calib.addPoint')}
                </button>
              </div>
              <PointList
                plan={plan}
                points={draft.points}
                selectedId={selectedId}
                counts={counts}
                offset={offset}
                onSelect={setSelectedId}
                onStart={start}
                onStop={stop}
                onDelete={remove}
                onMove={(id, at) => setPoints(movePoint(draft.points, id, at))}
              />
              {issues.length > 0 && (
                <ul className="hint calibration-problems" aria-label={t('calib.before')}>
                  {issues.map((issue) => (
                    <li key={`${issue.key}-${issue.point ?? ''}`}>{t(`calib.problem.${issue.key}`, { n: issue.point ?? draft.points.length })}</li>
                  ))}
                </ul>
              )}
              <div className="form-actions">
                <button type="button" className="primary" onClick={() => body && void post(body)} disabled={!admin || !body || busy}>
                  {busy ? t('calib.fitting') : t('calib.fit')}
                </button>
                {admin && view && (
                  <button type="button" className="danger" onClick={() => setConfirming(true)} disabled={!view.applicable || stale || busy} title={stale ? t('calib.stale') : undefined}>
                    {t('calib.apply')}
                  </button>
                )}
              </div>
              <Failure error={failure} />
            </div>
          </div>
          {view && <CalibrationResult view={view} stale={stale} />}
          {confirming && fitted && view && (
            <Dialog title={t('calib.applyTitle')} onClose={() => setConfirming(false)}>
              <p>{t('calib.applyConfirm', { n: view.fittedGateways })}</p>
              <div className="form-actions">
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    setConfirming(false);
                    void post({ ...fitted.body, apply: true });
                  }}
                >
                  {t('calib.apply')}
                </button>
                <button type="button" onClick={() => setConfirming(false)}>
                  {t('common.cancel')}
                </button>
              </div>
            </Dialog>
          )}
        </>
      )}
    </Page>
  );
}

/** A refused fit: every problem the appliance listed (by point), or its message. */
function Failure({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  if (!(error instanceof ApiError) || error.problems.length === 0) return <ErrorAlert message={messageOf(error)} />;
  return (
    <div className="form-error" role="alert">
      <p>{t('calib.refused')}</p>
      <ul>
        {error.problems.map(describeProblem).map((p, i) => (
          <li key={i}>
            {p.point !== null && `${t('calib.pointN', { n: p.point })} · `}
            {p.field && p.field !== 'points' && `${p.field}: `}
            {p.msg}
          </li>
        ))}
      </ul>
    </div>
  );
}
