// The one way the console talks to the appliance: same origin, JSON, bearer token.
import { ApiError, errorFromBody } from './errors';

const TOKEN_KEY = 'sv.token';

// The token lives in sessionStorage, not localStorage: consoles often run on shared
// control-room machines, and closing the browser should end the session. A new tab asks
// for the password again; that is the price of it.
export const tokenStore = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

type UnauthorizedListener = () => void;
let onUnauthorized: UnauthorizedListener = () => {};

/** Called on any 401 (the token expired, was revoked, or the password changed). */
export function setUnauthorizedListener(listener: UnauthorizedListener) {
  onUnauthorized = listener;
}

export const API = '/api/v1';

function authHeaders(accept: string): Record<string, string> {
  const headers: Record<string, string> = { Accept: accept };
  const token = tokenStore.get();
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/** A failed answer as an ApiError; a 401 to a signed-in user also signs them out. */
async function failure(response: Response, hadToken: boolean): Promise<ApiError> {
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  // A failed login is a 401 too, but it is the login form's business.
  if (response.status === 401 && hadToken) {
    tokenStore.clear();
    onUnauthorized();
  }
  return errorFromBody(response.status, parsed, response.statusText);
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers = authHeaders('application/json');
  const token = headers.Authorization;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    payload = body; // the browser writes the multipart Content-Type with its boundary
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(API + path, { method, headers, body: payload });
  if (response.status === 204) return undefined as T;
  if (!response.ok) throw await failure(response, Boolean(token));
  const text = await response.text();
  try {
    return (text ? JSON.parse(text) : null) as T;
  } catch {
    return null as T;
  }
}

/**
 * A file the API serves (a report's CSV): fetched with the token, since a plain link cannot
 * carry it, with the name the appliance gives in `Content-Disposition`.
 */
async function download(path: string): Promise<{ blob: Blob; disposition: string | null }> {
  const headers = authHeaders('text/csv, */*');
  const response = await fetch(API + path, { method: 'GET', headers });
  if (!response.ok) throw await failure(response, Boolean(headers.Authorization));
  return { blob: await response.blob(), disposition: response.headers.get('Content-Disposition') };
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  delete: (path: string) => request<void>('DELETE', path),
  download,
};

/** Lists are paged by the API; the console asks for the largest page (1000 rows). */
export function listPath(path: string, query: Record<string, string | number | undefined> = {}) {
  const params = new URLSearchParams({ limit: '1000' });
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  return `${path}?${params}`;
}

/** Writes to a collection the API serves at `path`, one row at `path/{id}`. */
export function collection<T>(path: string, update: 'put' | 'patch' = 'put') {
  return {
    /** Creates a row (`row` null) or updates `row`. */
    save: (body: unknown, row: { id: number } | null) => (row ? api[update]<T>(`${path}/${row.id}`, body) : api.post<T>(path, body)),
    remove: (row: { id: number }) => api.delete(`${path}/${row.id}`),
  };
}

export { ApiError };
