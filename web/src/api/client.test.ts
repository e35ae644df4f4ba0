import { afterEach, describe, expect, it, vi } from 'vitest';
import { collection } from './client';

/** The requests the client makes, answered with an empty 200 (the appliance is not needed here). */
function recordRequests() {
  const requests: string[] = [];
  vi.stubGlobal('sessionStorage', { getItem: () => null });
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    requests.push(`${init.method} ${url}${init.body ? ` ${init.body}` : ''}`);
    return new Response('{}', { status: 200 });
  });
  return requests;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('collection', () => {
  it('creates with POST on the collection, updates and deletes one row under its id', async () => {
    const requests = recordRequests();
    const buildings = collection('/buildings');
    await buildings.save({ name: 'HQ' }, null);
    await buildings.save({ name: 'HQ 2' }, { id: 7 });
    await buildings.remove({ id: 7 });
    expect(requests).toEqual(['POST /api/v1/buildings {"name":"HQ"}', 'PUT /api/v1/buildings/7 {"name":"HQ 2"}', 'DELETE /api/v1/buildings/7']);
  });

  it('updates with PATCH where the API takes partial changes', async () => {
    const requests = recordRequests();
    await collection('/users', 'patch').save({ is_active: false }, { id: 3 });
    expect(requests).toEqual(['PATCH /api/v1/users/3 {"is_active":false}']);
  });
});
