import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setUnauthorizedListener, tokenStore } from '../api/client';
import { openStream, type StreamState } from './stream';

// EventSource as the browser runs it: it reconnects on its own after a break
// (readyState CONNECTING) and gives up when the server refuses it (CLOSED).
class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static last: FakeEventSource | null = null;
  readyState = FakeEventSource.CONNECTING;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  listeners = new Map<string, (event: MessageEvent<string>) => void>();
  closed = false;
  constructor(public url: string) {
    FakeEventSource.last = this;
  }
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void) {
    this.listeners.set(type, listener);
  }
  close() {
    this.closed = true;
  }
  open() {
    this.readyState = FakeEventSource.OPEN;
    this.onopen?.();
  }
  fail(state: number) {
    this.readyState = state;
    this.onerror?.();
  }
  emit(type: string, data: unknown) {
    this.listeners.get(type)?.({ data: JSON.stringify(data) } as MessageEvent<string>);
  }
}

function track() {
  const states: StreamState[] = [];
  const events: string[] = [];
  const handlers = {
    onEvent: (type: string) => events.push(type),
    onState: (state: StreamState) => states.push(state),
    onResync: vi.fn(),
  };
  return { states, events, handlers };
}

describe('the live stream', () => {
  let storage: Map<string, string>;
  beforeEach(() => {
    storage = new Map();
    vi.stubGlobal('sessionStorage', {
      getItem: (k: string) => storage.get(k) ?? null,
      setItem: (k: string, v: string) => storage.set(k, v),
      removeItem: (k: string) => storage.delete(k),
    });
    vi.stubGlobal('EventSource', FakeEventSource);
    tokenStore.set('the-token');
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    setUnauthorizedListener(() => {});
  });

  it('opens with the token in the URL and passes events on', () => {
    const { states, events, handlers } = track();
    const close = openStream(['POSITION_CHANGED'], handlers);
    const source = FakeEventSource.last!;
    expect(source.url).toContain('access_token=the-token');
    expect(source.url).toContain('types=POSITION_CHANGED');
    source.open();
    source.emit('POSITION_CHANGED', { payload: { tag_id: 1 } });
    expect(states).toEqual(['connecting', 'live']);
    expect(events).toEqual(['POSITION_CHANGED']);
    close();
    expect(source.closed).toBe(true);
  });

  it('asks for a resync after a break and after LAGGED', () => {
    const { states, handlers } = track();
    openStream(['POSITION_CHANGED'], handlers);
    const source = FakeEventSource.last!;
    source.open();
    source.fail(FakeEventSource.CONNECTING);
    expect(states.at(-1)).toBe('reconnecting');
    source.open();
    expect(handlers.onResync).toHaveBeenCalledTimes(1);
    source.emit('LAGGED', { missed: 12 });
    expect(handlers.onResync).toHaveBeenCalledTimes(2);
    expect(states.at(-1)).toBe('live');
  });

  it('signs the user out when the server refuses the stream once the token has expired', async () => {
    const fetch = vi.fn(async () => new Response('{"detail":"Not authenticated"}', { status: 401 }));
    vi.stubGlobal('fetch', fetch);
    const signedOut = vi.fn();
    setUnauthorizedListener(signedOut);
    const { states, handlers } = track();
    openStream(['POSITION_CHANGED'], handlers);
    const source = FakeEventSource.last!;
    source.open();
    // The appliance ends the stream when the token expires; EventSource reconnects with the
    // same URL, is refused (401) and closes.
    source.fail(FakeEventSource.CLOSED);
    expect(states.at(-1)).toBe('closed');
    await vi.waitFor(() => expect(signedOut).toHaveBeenCalled());
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/auth/me');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer the-token');
    expect(tokenStore.get()).toBeNull();
  });

  it('opens nothing without a token', () => {
    tokenStore.clear();
    FakeEventSource.last = null;
    const { states, handlers } = track();
    openStream(['POSITION_CHANGED'], handlers);
    expect(FakeEventSource.last).toBeNull();
    expect(states).toEqual([]);
  });
});
