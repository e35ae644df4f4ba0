// The replay on the live map: loads a window of position history for the plan and plays it
// into its own marker layer and trail group (the live layer keeps running, hidden).
// Markers move every animation frame; React hears the time a few times a second only.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import type { FloorPlan, Id } from '../api/types';
import { historyPath, type PositionHistory, type WindowDraft } from './history';
import { MarkerLayer, type MarkerLabels } from './MarkerLayer';
import { fractionToView, type Point, type ViewSize } from './planGeometry';
import { DEFAULT_TRAIL_SECONDS, PlaybackClock, ReplaySource, toReplayTracks } from './replay';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** How often the controls (slider, time) follow the clock while playing. */
const CONTROLS_REFRESH_MS = 200;

interface Loaded {
  source: ReplaySource;
  clock: PlaybackClock;
  truncated: boolean;
}

export interface ReplayQuery {
  personId: Id | null;
  from: string;
  to: string;
}

/** The controls' choice, kept while the page shows live positions. */
export interface ReplayChoice {
  span: WindowDraft;
  personId: Id | null;
}

/** One polyline per trail stretch, reusing the group's elements. */
function drawTrails(group: SVGGElement, segments: Point[][], view: ViewSize) {
  while (group.childElementCount > segments.length) group.lastElementChild!.remove();
  while (group.childElementCount < segments.length) group.appendChild(document.createElementNS(SVG_NS, 'polyline'));
  segments.forEach((segment, i) => {
    const points = segment.map((p) => fractionToView(p, view)).map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`);
    group.children[i].setAttribute('points', points.join(' '));
  });
}

export function useReplay(plan: FloorPlan | null, view: ViewSize, active: boolean, labels: MarkerLabels) {
  const markersGroup = useRef<SVGGElement>(null);
  const trailLine = useRef<SVGPolylineElement>(null);
  const trailsGroup = useRef<SVGGElement>(null);
  const layer = useRef<MarkerLayer | null>(null);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState('');
  const [time, setTime] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeedState] = useState(1);
  const [trailSeconds, setTrailSecondsState] = useState(DEFAULT_TRAIL_SECONDS);
  const choice = useRef<ReplayChoice | null>(null);
  /** Set when the picture must be redrawn although the time did not change. */
  const dirty = useRef(true);
  /** Only the latest request's answer is shown (an older one may arrive after it). */
  const request = useRef(0);

  // Another plan: the replay loaded for the previous one no longer applies.
  useEffect(() => {
    setLoaded(null);
    setError('');
  }, [plan?.id]);

  const load = useCallback(
    async (query: ReplayQuery) => {
      if (!plan) return;
      const mine = ++request.current;
      setLoading(true);
      setError('');
      try {
        const history = await api.get<PositionHistory>(historyPath({ planId: plan.id, ...query }));
        if (mine !== request.current) return;
        const source = new ReplaySource(toReplayTracks(history.tracks), plan.id);
        source.setTrailSeconds(trailSeconds);
        const clock = new PlaybackClock(Date.parse(history.from_ts), Date.parse(history.to_ts), source.firstAt() ?? undefined);
        clock.setSpeed(speed, performance.now());
        setLoaded({ source, clock, truncated: history.truncated });
        setTime(clock.time(performance.now()));
        setPlaying(false);
        dirty.current = true;
      } catch (e) {
        if (mine !== request.current) return;
        setError(messageOf(e));
        setLoaded(null);
      } finally {
        if (mine === request.current) setLoading(false);
      }
    },
    [plan, speed, trailSeconds],
  );

  // While shown: a marker layer of its own, and a frame loop that follows the clock.
  useEffect(() => {
    if (!active || !loaded || loaded.source.planId !== plan?.id || !markersGroup.current || !trailLine.current || !trailsGroup.current) return;
    const { source, clock } = loaded;
    const trails = trailsGroup.current;
    source.moveTo(clock.time(performance.now()));
    layer.current = new MarkerLayer(markersGroup.current, trailLine.current, source, plan, view, labels);
    dirty.current = true;
    let frame = 0;
    let lastShown = 0;
    const tick = () => {
      // performance.now(), not the frame's timestamp: the controls anchor the clock with it,
      // and a frame's timestamp can be earlier than a click handled just before it.
      const now = performance.now();
      const at = clock.time(now);
      const changed = source.moveTo(at);
      if (changed.length > 0) layer.current?.update(changed);
      if (changed.length > 0 || dirty.current) drawTrails(trails, source.trails(), view);
      if (dirty.current || now - lastShown >= CONTROLS_REFRESH_MS) {
        setTime(at);
        setPlaying(clock.playing);
        lastShown = now;
      }
      dirty.current = false;
      frame = requestAnimationFrame(tick);
    };
    frame = requestAnimationFrame(tick);
    return () => {
      cancelAnimationFrame(frame);
      layer.current?.dispose();
      layer.current = null;
      drawTrails(trails, [], view);
    };
  }, [active, loaded, plan, view, labels]);

  // Back to live: the replay waits where it was.
  useEffect(() => {
    if (!active) loaded?.clock.pause(performance.now());
  }, [active, loaded]);

  const control = useCallback(
    (change: (clock: PlaybackClock, now: number) => void) => {
      if (!loaded) return;
      change(loaded.clock, performance.now());
      dirty.current = true;
    },
    [loaded],
  );

  return {
    markersGroup,
    trailLine,
    trailsGroup,
    loaded,
    loading,
    error,
    time,
    playing,
    speed,
    trailSeconds,
    load,
    choice,
    play: () => control((clock, now) => clock.play(now)),
    pause: () => control((clock, now) => clock.pause(now)),
    seek: (at: number) => control((clock, now) => clock.seek(at, now)),
    setSpeed: (value: number) => {
      setSpeedState(value);
      control((clock, now) => clock.setSpeed(value, now));
    },
    setTrailSeconds: (seconds: number) => {
      setTrailSecondsState(seconds);
      loaded?.source.setTrailSeconds(seconds);
      dirty.current = true;
    },
    select: (tagId: Id | null) => layer.current?.select(tagId),
  };
}

export type Replay = ReturnType<typeof useReplay>;
