import { describe, expect, it } from 'vitest';
import type { CameraEvent, CameraEventNotice } from '../api/types';
import { analyticTypes, aroundPath, eventsPath, fromApi, fromNotice, localToIso, matchesFilter, mergeEvents, NO_FILTER, snapshotUrl } from './events';

const ana = { person_id: 7, full_name: 'Ana Souza', tag_id: 3, distance_m: 1.2, via: 'position' };

function stored(id: number, occurred_at: string, analytic_type = 'intrusion'): CameraEvent {
  return {
    id, device_id: 5, topic: 'manual', analytic_type, payload: { SnapshotURL: 'http://10.0.0.5/s.jpg' },
    occurred_at, created_at: occurred_at, person_id: null, nearby_people: null,
  };
}

function notice(event_id: number, occurred_at: string, analytic_type = 'intrusion'): CameraEventNotice {
  return {
    event_id, device_id: 5, camera_name: 'Entrada', camera_code: 'CAM1', analytic_type, occurred_at,
    floor_plan_id: 1, person_id: 7, nearby_people: [ana],
  };
}

describe('camera event query', () => {
  it('asks for the newest 100, with only the filters given', () => {
    expect(eventsPath(5, NO_FILTER)).toBe('/devices/cameras/5/events?limit=100');
    const path = eventsPath(5, { analyticType: ' faceCapture ', since: '2026-01-01T10:00', until: '' });
    const query = new URLSearchParams(path.split('?')[1]);
    expect(query.get('analytic_type')).toBe('faceCapture');
    expect(query.get('since')).toBe(new Date('2026-01-01T10:00').toISOString());
    expect(query.has('until')).toBe(false);
  });

  it('reads the time inputs in the browser’s zone and ignores what is not a time', () => {
    expect(new Date(localToIso('2026-03-04T05:06')!).getHours()).toBe(5);
    expect(localToIso('')).toBeUndefined();
    expect(localToIso('soon')).toBeUndefined();
  });

  it('looks for a live event’s full row within a second of it', () => {
    const query = new URLSearchParams(aroundPath(5, '2026-01-01T12:00:00.500123456Z').split('?')[1]);
    expect(query.get('since')).toBe('2026-01-01T11:59:59.500Z');
    expect(query.get('until')).toBe('2026-01-01T12:00:01.500Z');
  });
});

describe('live events', () => {
  it('keep only what the filter would have listed', () => {
    const event = { analytic_type: 'intrusion', occurred_at: new Date('2026-01-01T10:30').toISOString() };
    expect(matchesFilter(event, NO_FILTER)).toBe(true);
    expect(matchesFilter(event, { ...NO_FILTER, analyticType: 'faceCapture' })).toBe(false);
    expect(matchesFilter(event, { ...NO_FILTER, since: '2026-01-01T10:00', until: '2026-01-01T11:00' })).toBe(true);
    expect(matchesFilter(event, { ...NO_FILTER, until: '2026-01-01T10:30' })).toBe(false); // until is exclusive
    expect(matchesFilter(event, { ...NO_FILTER, since: '2026-01-01T10:31' })).toBe(false);
  });

  it('are prepended newest first, without duplicating or unloading a stored row', () => {
    let list = [stored(1, '2026-01-01T10:00:00Z'), stored(2, '2026-01-01T11:00:00Z')].map(fromApi);
    list = mergeEvents([], list);
    expect(list.map((e) => e.id)).toEqual([2, 1]);

    list = mergeEvents(list, [fromNotice(notice(3, '2026-01-01T12:00:00.123456789Z'))]);
    expect(list.map((e) => e.id)).toEqual([3, 2, 1]);
    expect(list[0]).toMatchObject({ payload: null, topic: null, person_id: 7, nearby_people: [ana] });

    // The same event again from the stream (after a reconnect) keeps the stored payload.
    list = mergeEvents(list, [fromNotice(notice(2, '2026-01-01T11:00:00Z'))]);
    expect(list).toHaveLength(3);
    expect(list[1].payload).toEqual({ SnapshotURL: 'http://10.0.0.5/s.jpg' });

    // Its full row, once loaded, replaces the live copy.
    list = mergeEvents(list, [fromApi(stored(3, '2026-01-01T12:00:00.123456789Z'))]);
    expect(list[0].topic).toBe('manual');
  });

  it('push the oldest out past the limit', () => {
    const list = mergeEvents([stored(1, '2026-01-01T10:00:00Z'), stored(2, '2026-01-01T10:00:00Z')].map(fromApi), [fromNotice(notice(3, '2026-01-01T09:00:00Z'))], 2);
    expect(list.map((e) => e.id)).toEqual([2, 1]); // same time: the higher id is newer
  });
});

describe('payload', () => {
  it('links to an http(s) snapshot under any of its spellings', () => {
    expect(snapshotUrl({ SnapshotURL: 'http://10.0.0.5/snap.jpg' })).toBe('http://10.0.0.5/snap.jpg');
    expect(snapshotUrl({ snapshotUrl: ' https://cam.local/a b.jpg' })).toBe('https://cam.local/a%20b.jpg');
    expect(snapshotUrl({ snapshot_url: 'http://x/1.jpg' })).toBe('http://x/1.jpg');
  });

  it('never links to other schemes, non-URLs or missing values', () => {
    expect(snapshotUrl({ SnapshotURL: 'javascript:alert(1)' })).toBeNull();
    expect(snapshotUrl({ SnapshotURL: '/relative.jpg' })).toBeNull();
    expect(snapshotUrl({ SnapshotURL: 42 })).toBeNull();
    expect(snapshotUrl({})).toBeNull();
    expect(snapshotUrl(null)).toBeNull();
  });

  it('suggests the camera’s analytics and those seen, once each', () => {
    const seen = [stored(1, '2026-01-01T10:00:00Z', 'intrusion'), stored(2, '2026-01-01T10:00:00Z', 'faceCapture')].map(fromApi);
    expect(analyticTypes(seen, ['faceCapture', 'lineCrossing'])).toEqual(['faceCapture', 'intrusion', 'lineCrossing']);
    expect(analyticTypes([], null)).toEqual([]);
  });
});
