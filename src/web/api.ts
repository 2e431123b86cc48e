/**
 * The dashboard's client of the hrvault HTTP API: bearer tokens with refresh-token rotation (one refresh
 * at a time, since each refresh invalidates the token it used), RFC 9457 problems as typed errors, and
 * live record updates over server-sent events read with fetch(). No DOM: it runs in Node too.
 */
import { readSse } from './sse.js';
import type { AggregateAnswer, ClinicalRecord, PatientSummary, RecordType, UserView } from './model.js';

export interface Tokens {
  access_token: string;
  refresh_token: string;
  /** Access-token lifetime, seconds. */
  expires_in: number;
}

/** An API answer that was not a success, with the problem's detail when the server sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly code?: string,
    readonly field?: string,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  /** Origin of the API; '' means the page's own origin. */
  base?: string;
  fetch?: FetchFn;
  /** Called when the session ends (logout, or a refresh the server refused). */
  onSessionEnd?: (reason: string) => void;
  /** Clock, ms (for tests). */
  now?: () => number;
}

/** A message for any thrown value, preferring the problem's detail. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.field ? `${err.detail} (field: ${err.field})` : err.detail;
  if (err instanceof Error) return err.message;
  return String(err);
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const p = JSON.parse(text) as { detail?: unknown; title?: unknown; code?: unknown; field?: unknown };
    const detail =
      typeof p.detail === 'string' ? p.detail : typeof p.title === 'string' ? p.title : `HTTP ${res.status}`;
    return new ApiError(
      res.status,
      detail,
      typeof p.code === 'string' ? p.code : undefined,
      typeof p.field === 'string' ? p.field : undefined,
    );
  } catch {
    return new ApiError(
      res.status,
      text.trim() !== '' && text.length < 300 ? text.trim() : `HTTP ${res.status} ${res.statusText}`,
    );
  }
}

/** Refresh this long before the access token expires, ms. */
const REFRESH_MARGIN_MS = 30_000;

export class ApiClient {
  readonly #base: string;
  readonly #fetch: FetchFn;
  readonly #now: () => number;
  readonly #onSessionEnd: (reason: string) => void;
  #tokens: Tokens | null = null;
  #expiresAt = 0;
  #refreshing: Promise<void> | null = null;

  constructor(o: ApiClientOptions = {}) {
    this.#base = o.base ?? '';
    // Bound through a closure: the browser's fetch refuses to run with another `this`.
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init));
    this.#now = o.now ?? Date.now;
    this.#onSessionEnd = o.onSessionEnd ?? (() => undefined);
  }

  get loggedIn(): boolean {
    return this.#tokens !== null;
  }

  /** The current refresh token (tests check rotation with it). */
  get refreshToken(): string | undefined {
    return this.#tokens?.refresh_token;
  }

  #setTokens(t: Tokens): void {
    this.#tokens = t;
    this.#expiresAt = this.#now() + t.expires_in * 1000;
  }

  /** Logs in with username and password. */
  async login(username: string, password: string): Promise<void> {
    const res = await this.#fetch(`${this.#base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (!res.ok) throw await toApiError(res);
    this.#setTokens((await res.json()) as Tokens);
  }

  /** Exchanges the refresh token for new tokens; concurrent callers share one exchange. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#doRefresh().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #doRefresh(): Promise<void> {
    const t = this.#tokens;
    if (!t) throw new ApiError(401, 'not logged in');
    const res = await this.#fetch(`${this.#base}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: t.refresh_token }),
    });
    if (!res.ok) {
      const err = await toApiError(res);
      if (res.status === 401) this.#end(`Your session has ended: ${err.detail}. Please log in again.`);
      throw err;
    }
    this.#setTokens((await res.json()) as Tokens);
  }

  #end(reason: string): void {
    this.#tokens = null;
    this.#onSessionEnd(reason);
  }

  /** Logs out: the server revokes the refresh token; the local session ends either way. */
  async logout(): Promise<void> {
    const t = this.#tokens;
    if (!t) return;
    try {
      await this.request('POST', '/api/v1/auth/logout', {
        refresh_token: this.#tokens?.refresh_token ?? t.refresh_token,
      });
    } finally {
      this.#end('Logged out.');
    }
  }

  async #authorised(path: string, init: RequestInit): Promise<Response> {
    if (!this.#tokens) throw new ApiError(401, 'not logged in');
    if (this.#now() > this.#expiresAt - REFRESH_MARGIN_MS) await this.refresh();
    const send = () =>
      this.#fetch(`${this.#base}${path}`, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string>),
          authorization: `Bearer ${this.#tokens!.access_token}`,
        },
      });
    let res = await send();
    if (res.status === 401 && this.#tokens) {
      // The access token expired or was revoked early: one refresh, one retry.
      await this.refresh();
      res = await send();
    }
    return res;
  }

  /** An authorised JSON request; throws ApiError on a non-2xx answer. */
  async request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    const res = await this.#authorised(path, {
      method,
      ...(body !== undefined
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
        : {}),
    });
    if (!res.ok) throw await toApiError(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  me(): Promise<UserView> {
    return this.request('GET', '/api/v1/me');
  }

  async patients(): Promise<PatientSummary[]> {
    return (await this.request<{ patients: PatientSummary[] }>('GET', '/api/v1/patients')).patients;
  }

  /** Records of a patient; times in epoch ms. */
  records(
    patientId: string,
    q: { type?: RecordType | ''; from_ms?: number; to_ms?: number; limit?: number } = {},
  ): Promise<{ records: ClinicalRecord[]; integrity_failures: Array<{ seq: number; reason: string }> }> {
    const p = new URLSearchParams();
    if (q.type) p.set('type', q.type);
    if (q.from_ms !== undefined) p.set('from', String(Math.max(0, Math.floor(q.from_ms))));
    if (q.to_ms !== undefined) p.set('to', String(Math.max(0, Math.floor(q.to_ms))));
    if (q.limit !== undefined) p.set('limit', String(q.limit));
    const qs = p.toString();
    return this.request(
      'GET',
      `/api/v1/patients/${encodeURIComponent(patientId)}/records${qs ? `?${qs}` : ''}`,
    );
  }

  appendRecord(
    patientId: string,
    body: { type: RecordType; t_ms?: number; data: Record<string, unknown> },
  ): Promise<ClinicalRecord> {
    return this.request('POST', `/api/v1/patients/${encodeURIComponent(patientId)}/records`, body);
  }

  prescribe(
    patientId: string,
    body: { text: string; medication?: string; dose?: string; valid_until?: string },
  ): Promise<ClinicalRecord> {
    return this.request('POST', `/api/v1/patients/${encodeURIComponent(patientId)}/prescriptions`, body);
  }

  /** Mean of `metric` over [from_ms, to_ms) for one patient, or across the caller's patients when patientId is null. */
  aggregate(
    patientId: string | null,
    metric: string,
    from_ms: number,
    to_ms: number,
  ): Promise<AggregateAnswer> {
    const qs = new URLSearchParams({
      metric,
      from: String(Math.floor(from_ms)),
      to: String(Math.floor(to_ms)),
    }).toString();
    return this.request(
      'GET',
      patientId === null
        ? `/api/v1/aggregates?${qs}`
        : `/api/v1/patients/${encodeURIComponent(patientId)}/aggregates?${qs}`,
    );
  }

  async users(): Promise<UserView[]> {
    return (await this.request<{ users: UserView[] }>('GET', '/api/v1/users')).users;
  }

  createUser(body: {
    username: string;
    password: string;
    role: string;
    display_name?: string;
    patient_id?: string;
    patients?: string[];
  }): Promise<UserView> {
    return this.request('POST', '/api/v1/users', body);
  }

  setAssignments(userId: string, patients: string[]): Promise<UserView> {
    return this.request('PUT', `/api/v1/users/${encodeURIComponent(userId)}/assignments`, { patients });
  }

  /**
   * Follows a patient's new records until `signal` aborts; resolves when the stream ends. `onOpen` runs
   * once the server accepted the subscription.
   */
  async live(
    patientId: string,
    onRecord: (r: ClinicalRecord) => void,
    signal: AbortSignal,
    onOpen?: () => void,
  ): Promise<void> {
    const res = await this.#authorised(`/api/v1/patients/${encodeURIComponent(patientId)}/live`, {
      method: 'GET',
      headers: { accept: 'text/event-stream' },
      signal,
    });
    if (!res.ok) throw await toApiError(res);
    if (!res.body) throw new ApiError(res.status, 'the live stream has no body');
    onOpen?.();
    await readSse(
      res.body,
      (ev) => {
        if (ev.event !== 'record') return;
        const rec = JSON.parse(ev.data) as ClinicalRecord;
        if (rec.patient_id === patientId) onRecord(rec);
      },
      signal,
    );
  }
}
