/**
 * Tokens and API calls, in this one module (nothing else touches a token).
 *
 * - The access token (15 minutes) lives in memory only: a reload drops it, a refresh gets a new one.
 * - The refresh token lives in localStorage, so a reload keeps you signed in. That means script
 *   running in this page could read it: the defence is the page's CSP (no inline script, no
 *   third-party origin, nothing injected as HTML), plus rotation (each refresh token works once,
 *   and a replayed one ends the session) and sign-out/revoke ending the session at once. An
 *   HttpOnly cookie would hide it from script, but the API's refresh endpoint takes the token
 *   in a JSON body (no cookies, so no CSRF to defend); see the README, "Web client".
 * - It is refreshed before it expires (at 80% of `expires_in`), and once more on a 401.
 * - Refreshes are serialized across tabs with the Web Locks API: refresh tokens rotate, and two
 *   tabs presenting the same one would count as a replay and end the session.
 */

const REFRESH_KEY = 'secure-upload.refresh_token';
const LOCK_NAME = 'secure-upload.refresh';

export interface TokenPair {
  readonly access_token: string;
  readonly refresh_token: string;
  readonly token_type: string;
  readonly expires_in: number;
}

/** An API answer that was not a success: `detail` of the problem (or the gateway's `message`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown>,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let accessToken: string | undefined;
let accessExpiresAt = 0;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | undefined;
const listeners = new Set<(signedIn: boolean) => void>();

/** Called with false when the session ends (sign-out here or in another tab, a revoked session). */
export function onAuthChange(listener: (signedIn: boolean) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify(signedIn: boolean): void {
  for (const listener of listeners) listener(signedIn);
}

function storedRefreshToken(): string | null {
  try {
    return localStorage.getItem(REFRESH_KEY);
  } catch {
    return null; // storage disabled: a session lasts as long as the page
  }
}

function forget(): void {
  accessToken = undefined;
  accessExpiresAt = 0;
  clearTimeout(refreshTimer);
  try {
    localStorage.removeItem(REFRESH_KEY);
  } catch {
    // nothing stored
  }
}

/** Keeps a new pair: access token in memory, refresh token in storage, the next refresh scheduled. */
export function acceptTokens(pair: TokenPair): void {
  accessToken = pair.access_token;
  accessExpiresAt = Date.now() + pair.expires_in * 1000;
  try {
    localStorage.setItem(REFRESH_KEY, pair.refresh_token);
  } catch {
    // kept in memory only
  }
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refresh().catch(() => undefined), Math.max(5, pair.expires_in * 0.8) * 1000);
  notify(true);
}

/** True if a refresh token is stored (the page may be signed in after a reload). */
export function hasStoredSession(): boolean {
  return storedRefreshToken() !== null;
}

// Another tab signed out (or in): follow it.
if (typeof window !== 'undefined') {
  window.addEventListener('storage', (event) => {
    if (event.key !== REFRESH_KEY && event.key !== null) return;
    if (event.newValue === null) {
      accessToken = undefined;
      clearTimeout(refreshTimer);
      notify(false);
    }
  });
}

/**
 * Trades the stored refresh token for a new pair (once at a time, across tabs). False if there
 * is no session anymore; throws on network or server trouble (the token is kept).
 */
export function refresh(): Promise<boolean> {
  refreshing ??= runRefresh().finally(() => {
    refreshing = undefined;
  });
  return refreshing;
}

async function runRefresh(): Promise<boolean> {
  const work = async (): Promise<boolean> => {
    const token = storedRefreshToken();
    if (!token) return false;
    const response = await fetch('/auth/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: token }),
    });
    if (response.status === 401 || response.status === 400 || response.status === 422) {
      // Only forget a token nobody replaced meanwhile.
      if (storedRefreshToken() === token) forget();
      notify(false);
      return false;
    }
    if (!response.ok) throw await toError(response);
    acceptTokens((await response.json()) as TokenPair);
    return true;
  };
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  return locks ? locks.request(LOCK_NAME, work) : work();
}

/** A valid access token, refreshed first if it is missing or about to expire. */
export async function currentAccessToken(): Promise<string> {
  if (!accessToken || Date.now() > accessExpiresAt - 15_000) {
    if (!(await refresh())) throw new ApiError(401, 'Please sign in again', {});
  }
  if (!accessToken) throw new ApiError(401, 'Please sign in again', {});
  return accessToken;
}

async function toError(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  const errors = Array.isArray(body.errors) ? (body.errors as { pointer?: string; detail?: string }[]) : [];
  const detail =
    typeof body.detail === 'string' ? body.detail : typeof body.message === 'string' ? body.message : response.statusText || `HTTP ${response.status}`;
  // A 422 names the field: "/password: must be at least 8 characters" reads better than "Validation failed".
  const first = errors[0];
  const message = first?.detail && !detail.includes(first.detail) ? `${detail} (${first.pointer ?? ''} ${first.detail})`.replace('( ', '(') : detail;
  const retry = Number(response.headers.get('Retry-After'));
  return new ApiError(response.status, message, body, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

export interface CallOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly json?: unknown;
  /** Sends the access token (default); false for sign-in and other anonymous calls. */
  readonly auth?: boolean;
  readonly signal?: AbortSignal;
}

/** One API call: JSON in and out, the access token attached, one retry after a refresh on 401. */
export async function call<T>(path: string, options: CallOptions = {}): Promise<T> {
  const { method = options.json === undefined ? 'GET' : 'POST', json, auth = true, signal } = options;
  const send = async () =>
    fetch(path, {
      method,
      headers: {
        ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...(auth ? { Authorization: `Bearer ${await currentAccessToken()}` } : {}),
      },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      ...(signal ? { signal } : {}),
    });
  let response = await send();
  if (auth && response.status === 401) {
    accessToken = undefined; // revoked or expired early: one refresh, one retry
    response = await send();
    if (response.status === 401) {
      forget();
      notify(false);
    }
  }
  if (!response.ok) throw await toError(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** Ends this session on the server (its access tokens stop at once) and forgets the tokens. */
export async function signOut(): Promise<void> {
  const token = storedRefreshToken();
  forget();
  notify(false);
  if (token) {
    await fetch('/auth/logout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: token }),
    }).catch(() => undefined);
  }
}

/** After the account is deleted or every session ended: nothing to tell the server. */
export function forgetSession(): void {
  forget();
  notify(false);
}
