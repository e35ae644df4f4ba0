// The live event stream (server-sent events). EventSource cannot send headers, so the
// token travels as ?access_token= (the appliance accepts it on this route only).
import { API, api, tokenStore } from '../api/client';
import type { StreamEnvelope } from '../api/types';

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface StreamHandlers {
  onEvent: (type: string, envelope: StreamEnvelope<unknown>) => void;
  onState: (state: StreamState) => void;
  /** The connection came back after a break: events may have been missed. */
  onResync?: () => void;
}

export function streamUrl(types: string[], token: string): string {
  const params = new URLSearchParams({ access_token: token, types: types.join(',') });
  return `${API}/stream?${params}`;
}

/** Opens the stream; returns the function that closes it. */
export function openStream(types: string[], handlers: StreamHandlers): () => void {
  const token = tokenStore.get();
  if (!token) return () => {};
  const source = new EventSource(streamUrl(types, token));
  let opened = false;
  handlers.onState('connecting');
  source.onopen = () => {
    if (opened) handlers.onResync?.();
    opened = true;
    handlers.onState('live');
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      handlers.onState('closed');
      // The server refused the stream; if the token is the reason, this request's 401
      // sends the user back to the login page.
      void api.get('/auth/me').catch(() => {});
    } else {
      handlers.onState('reconnecting');
    }
  };
  for (const type of [...types, 'LAGGED']) {
    source.addEventListener(type, (event) => {
      try {
        const data = JSON.parse((event as MessageEvent<string>).data);
        if (type === 'LAGGED') handlers.onResync?.();
        else handlers.onEvent(type, data as StreamEnvelope<unknown>);
      } catch {
        // A malformed event is skipped; the next one carries the full state again.
      }
    });
  }
  return () => source.close();
}
