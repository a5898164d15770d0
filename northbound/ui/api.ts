// The UI's calls to the Weft API: every call carries the bearer token the
// user logged in with (kept in sessionStorage: gone when the tab closes).
// The event stream offers it as the WebSocket subprotocol weft.bearer.<token>
// beside weft.events.v1, which the server answers with, so the token is not
// echoed (browsers cannot set headers on a WebSocket; northbound/api/events-ws.ts).
import type { WeftEvent } from './types';

const TOKEN_KEY = 'weft.token';

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

export const savedToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const saveToken = (t: string): void => sessionStorage.setItem(TOKEN_KEY, t);
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

/** Tokens are `weft_<hex>_<base64url>`: anything else is refused before it is sent (and could not be a subprotocol). */
export const tokenLooksValid = (t: string): boolean => /^[A-Za-z0-9._~-]{8,512}$/.test(t);

export class Api {
  /** Called once when the API answers 401: the token is gone or was revoked. */
  onUnauthorized: () => void = () => undefined;
  constructor(readonly token: string) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const r = await fetch(path, {
      method, cache: 'no-store', credentials: 'omit',
      headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json: unknown;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    if (!r.ok) {
      const e = (json ?? {}) as { error?: string; message?: string };
      if (r.status === 401) this.onUnauthorized();
      throw new HttpError(r.status, e.error ?? 'error', e.message ?? `${r.status} ${r.statusText}`);
    }
    return json as T;
  }
  get<T>(path: string): Promise<T> { return this.call<T>('GET', path); }
  post<T>(path: string, body: unknown): Promise<T> { return this.call<T>('POST', path, body); }

  /**
   * The event stream, reopened after a loss (1 s, then up to 15 s apart).
   * Asks for a snapshot on every open. Returns a handle to ask for another
   * snapshot and to close it.
   */
  events(onEvent: (e: WeftEvent) => void, onState: (s: 'open' | 'closed') => void): { snapshot(): void; close(): void } {
    let ws: WebSocket | undefined;
    let stopped = false;
    let delay = 1000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const open = () => {
      const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/events?snapshot=1`;
      ws = new WebSocket(url, ['weft.events.v1', `weft.bearer.${this.token}`]);
      ws.onopen = () => { delay = 1000; onState('open'); };
      ws.onmessage = (m) => {
        try { onEvent(JSON.parse(String(m.data)) as WeftEvent); } catch { /* not JSON: ignore */ }
      };
      ws.onclose = () => {
        onState('closed');
        if (stopped) return;
        // a refused upgrade looks like any other loss: ask the API whether the token still holds (401 logs out)
        this.get('/v1/networks').catch(() => undefined);
        timer = setTimeout(open, delay);
        delay = Math.min(delay * 2, 15000);
      };
    };
    open();
    return {
      snapshot: () => { if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'snapshot' })); },
      close: () => { stopped = true; if (timer) clearTimeout(timer); ws?.close(); },
    };
  }
}
