/**
 * The dashboard's client of the hrvault HTTP API. The access token lives only in this object's memory; the
 * refresh token is an HttpOnly cookie the server sets at login (`hrvault_refresh`), so a page reload
 * restores the session with `POST /api/v1/auth/refresh` and no body, and no token is ever put in
 * localStorage, sessionStorage or a URL. One refresh at a time, since each refresh rotates the cookie.
 * RFC 9457 problems become typed errors; live record updates arrive as server-sent events read with fetch();
 * uploads go through XMLHttpRequest for their progress events. No DOM besides those: it runs in Node too.
 */
import { readSse } from './sse.js';
import type { AggregateAnswer, ApiRecord, PatientSummary, RecordType, UserView } from './model.js';
import { parseContract, trendsAnswerSchema, type AuditQuery, type TrendsAnswer } from '../contracts/index.js';

export interface Tokens {
  access_token: string;
  /** Older servers also answer with the refresh token; kept in memory only, for them. */
  refresh_token?: string;
  /** Access-token lifetime, seconds. */
  expires_in: number;
}

/** A grant of access waiting for (or decided by) a second admin. */
export interface GrantView {
  grant_id: string;
  kind: 'account' | 'assign' | 'credential';
  user_id: string;
  username: string;
  role: string;
  patients: string[];
  requested_by: string;
  requested_ms: number;
  approvals: string[];
  needed: number;
  state: 'pending' | 'approved' | 'rejected';
  decided_ms: number | null;
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

/** The part of XMLHttpRequest the upload uses (injectable for tests). */
export interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: string): void;
  abort(): void;
  readonly status: number;
  readonly responseText: string;
  withCredentials: boolean;
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}

export interface ApiClientOptions {
  /** Origin of the API; '' means the page's own origin. */
  base?: string;
  fetch?: FetchFn;
  /** Makes an XMLHttpRequest (default: the browser's). */
  xhr?: () => XhrLike;
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

/** A problem+json (or any) error body → ApiError with the server's detail, unchanged. */
export function problemFromText(status: number, statusText: string, text: string): ApiError {
  try {
    const p = JSON.parse(text) as { detail?: unknown; title?: unknown; code?: unknown; field?: unknown };
    const detail =
      typeof p.detail === 'string' ? p.detail : typeof p.title === 'string' ? p.title : `HTTP ${status}`;
    return new ApiError(
      status,
      detail,
      typeof p.code === 'string' ? p.code : undefined,
      typeof p.field === 'string' ? p.field : undefined,
    );
  } catch {
    return new ApiError(
      status,
      text.trim() !== '' && text.length < 300 ? text.trim() : `HTTP ${status} ${statusText}`.trim(),
    );
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  return problemFromText(res.status, res.statusText, text);
}

/** A page of a list endpoint. */
export interface Page<T> {
  total: number;
  items: T[];
}

export type PatientSort = 'name' | 'hr' | 'sdnn' | 'rmssd' | 'last_data' | 'alerts';

export interface PatientQuery {
  q?: string;
  sort?: PatientSort;
  order?: 'asc' | 'desc';
  offset?: number;
  limit?: number;
}

export interface RecordQuery {
  type?: RecordType | '';
  from_ms?: number;
  to_ms?: number;
  offset?: number;
  limit?: number;
  order?: 'asc' | 'desc';
}

export interface AuditEntry {
  seq?: number;
  t_ms?: number;
  actor?: string;
  actor_name?: string;
  action?: string;
  target?: string;
  outcome?: string;
  detail?: unknown;
  [k: string]: unknown;
}

export type { AuditQuery };

export interface AuditPage extends Page<AuditEntry> {
  verification: { ok: boolean; problem?: string } | null;
}

const cmp = (a: number | null | undefined, b: number | null | undefined) =>
  (a ?? -Infinity) - (b ?? -Infinity);

/** Sort, search and page a patient list locally (for a server that answers with the whole list). */
export function pagePatientsLocally(all: readonly PatientSummary[], q: PatientQuery): Page<PatientSummary> {
  const needle = (q.q ?? '').trim().toLowerCase();
  const hits = all.filter(
    (p) => !needle || p.patient_id.toLowerCase().includes(needle) || p.display_name.toLowerCase().includes(needle),
  );
  const key: Record<PatientSort, (a: PatientSummary, b: PatientSummary) => number> = {
    name: (a, b) => (a.display_name || a.patient_id).localeCompare(b.display_name || b.patient_id),
    hr: (a, b) => cmp(a.latest?.mean_hr_bpm, b.latest?.mean_hr_bpm),
    sdnn: (a, b) => cmp(a.latest?.sdnn_ms, b.latest?.sdnn_ms),
    rmssd: (a, b) => cmp(a.latest?.rmssd_ms, b.latest?.rmssd_ms),
    last_data: (a, b) => cmp(a.last_data_ms, b.last_data_ms),
    alerts: (a, b) => cmp(a.open_alerts, b.open_alerts),
  };
  const sign = q.order === 'desc' ? -1 : 1;
  const by = key[q.sort ?? 'name'];
  hits.sort((a, b) => sign * by(a, b) || a.patient_id.localeCompare(b.patient_id));
  const offset = q.offset ?? 0;
  return { total: hits.length, items: hits.slice(offset, offset + (q.limit ?? 50)) };
}

/** Refresh this long before the access token expires, ms. */
const REFRESH_MARGIN_MS = 30_000;

const qs = (o: Record<string, string | number | undefined>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};

const ms = (v: number | undefined) => (v === undefined ? undefined : Math.max(0, Math.floor(v)));

export class ApiClient {
  readonly #base: string;
  readonly #fetch: FetchFn;
  readonly #xhr: () => XhrLike;
  readonly #now: () => number;
  readonly #onSessionEnd: (reason: string) => void;
  #tokens: Tokens | null = null;
  #expiresAt = 0;
  #refreshing: Promise<void> | null = null;

  constructor(o: ApiClientOptions = {}) {
    this.#base = o.base ?? '';
    // Bound through a closure: the browser's fetch refuses to run with another `this`.
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init));
    this.#xhr = o.xhr ?? (() => new XMLHttpRequest() as unknown as XhrLike);
    this.#now = o.now ?? Date.now;
    this.#onSessionEnd = o.onSessionEnd ?? (() => undefined);
  }

  get loggedIn(): boolean {
    return this.#tokens !== null;
  }

  /** The refresh token when an older server sent it in the body (tests check rotation with it). */
  get refreshToken(): string | undefined {
    return this.#tokens?.refresh_token;
  }

  #setTokens(t: Tokens): void {
    this.#tokens = { access_token: t.access_token, expires_in: t.expires_in, ...(t.refresh_token ? { refresh_token: t.refresh_token } : {}) };
    this.#expiresAt = this.#now() + t.expires_in * 1000;
  }

  /** Logs in with username and password (the server also sets the refresh cookie). */
  async login(username: string, password: string): Promise<void> {
    const res = await this.#fetch(`${this.#base}/api/v1/auth/login`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (!res.ok) throw await toApiError(res);
    this.#setTokens((await res.json()) as Tokens);
  }

  /** First login of an account an admin made or reset: every part of the enrolment code, then a password of one's own. */
  async enrol(username: string, codes: string[], password: string): Promise<void> {
    const res = await this.#fetch(`${this.#base}/api/v1/auth/enrol`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, codes, password }),
    });
    if (!res.ok) throw await toApiError(res);
    this.#setTokens((await res.json()) as Tokens);
  }

  /** On page load: a new access token from the refresh cookie, if the browser has one. True when a session was restored. */
  /** Restores a session from the refresh cookie (after a reload); concurrent callers share one exchange. */
  restore(): Promise<boolean> {
    this.#restoring ??= this.#doRefresh(true).then(
      () => true,
      () => {
        this.#tokens = null;
        return false;
      },
    );
    return this.#restoring;
  }

  /** Exchanges the refresh cookie for a new access token; concurrent callers share one exchange. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#doRefresh(false).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  #restoring: Promise<boolean> | null = null;

  async #doRefresh(quiet: boolean): Promise<void> {
    const post = (body?: unknown) =>
      this.#fetch(`${this.#base}/api/v1/auth/refresh`, {
        method: 'POST',
        credentials: 'same-origin',
        ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
      });
    // The token this page got at login (or the last refresh) when it has one; after a reload the page has none
    // and the HttpOnly cookie carries it. Never both one after the other: tokens rotate, and presenting a spent
    // one is taken as theft.
    const inMemory = this.#tokens?.refresh_token;
    const res = await post(inMemory ? { refresh_token: inMemory } : undefined);
    if (!res.ok) {
      const err = await toApiError(res);
      if (!quiet && (res.status === 401 || res.status === 400)) this.#end(`Your session has ended: ${err.detail}. Please log in again.`);
      throw err;
    }
    this.#setTokens((await res.json()) as Tokens);
  }

  #end(reason: string): void {
    this.#tokens = null;
    this.#onSessionEnd(reason);
  }

  /** Logs out: the server revokes the refresh token and clears the cookie; the local session ends either way. */
  async logout(): Promise<void> {
    const t = this.#tokens;
    if (!t) return;
    try {
      await this.request('POST', '/api/v1/auth/logout', t.refresh_token ? { refresh_token: t.refresh_token } : undefined);
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
        credentials: 'same-origin',
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
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) throw await toApiError(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  me(): Promise<UserView> {
    return this.request('GET', '/api/v1/me');
  }

  /** A page of the caller's patients with their latest measures (searched, sorted and paged by the server). */
  async patients(q: PatientQuery = {}): Promise<Page<PatientSummary>> {
    const a = await this.request<Partial<Page<PatientSummary>> & { patients?: PatientSummary[] }>(
      'GET',
      `/api/v1/patients${qs({ q: q.q, sort: q.sort, order: q.order, offset: q.offset, limit: q.limit })}`,
    );
    // A server without paging answers with the whole list: page it here.
    if (Array.isArray(a.patients)) return pagePatientsLocally(a.patients, q);
    return { total: a.total ?? a.items?.length ?? 0, items: a.items ?? [] };
  }

  /** Every patient the caller may see (all pages). */
  async allPatients(): Promise<PatientSummary[]> {
    const out: PatientSummary[] = [];
    for (let offset = 0; ; ) {
      const p = await this.patients({ sort: 'name', offset, limit: 500 });
      out.push(...p.items);
      offset += p.items.length;
      if (p.items.length === 0 || offset >= p.total) return out;
    }
  }

  /** A page of a patient's records; times in epoch ms. */
  async records(patientId: string, q: RecordQuery = {}): Promise<Page<ApiRecord> & { integrity_failures: number }> {
    type Answer = Partial<Page<ApiRecord>> & { records?: ApiRecord[]; integrity_failures?: unknown[] | number };
    const get = (paged: boolean) =>
      this.request<Answer>(
        'GET',
        `/api/v1/patients/${encodeURIComponent(patientId)}/records${qs({
          type: q.type || undefined,
          from: ms(q.from_ms),
          to: ms(q.to_ms),
          limit: q.limit,
          ...(paged ? { offset: q.offset, order: q.order } : {}),
        })}`,
      );
    let a: Answer;
    try {
      a = await get(true);
    } catch (err) {
      // A server without paging refuses offset and order: take everything it gives and page here.
      if (!(err instanceof ApiError && err.status === 400 && (q.order !== undefined || q.offset !== undefined))) throw err;
      a = await this.request<Answer>(
        'GET',
        `/api/v1/patients/${encodeURIComponent(patientId)}/records${qs({ type: q.type || undefined, from: ms(q.from_ms), to: ms(q.to_ms), limit: 10000 })}`,
      );
      const all = [...(a.records ?? a.items ?? [])].sort((x, y) => (q.order === 'asc' ? x.t_ms - y.t_ms : y.t_ms - x.t_ms));
      const from = q.offset ?? 0;
      return {
        total: all.length,
        items: all.slice(from, from + (q.limit ?? all.length)),
        integrity_failures: Array.isArray(a.integrity_failures) ? a.integrity_failures.length : (a.integrity_failures ?? 0),
      };
    }
    const items = a.items ?? a.records ?? [];
    const failures = Array.isArray(a.integrity_failures) ? a.integrity_failures.length : (a.integrity_failures ?? 0);
    return { total: a.total ?? items.length, items, integrity_failures: failures };
  }

  /** A patient's HRV windows in [from_ms, to_ms) downsampled into `buckets` (min/mean/max per bucket), checked against the contract. */
  async trends(patientId: string, q: { from_ms: number; to_ms: number; buckets: number }): Promise<TrendsAnswer> {
    const answer = await this.request<unknown>(
      'GET',
      `/api/v1/patients/${encodeURIComponent(patientId)}/trends${qs({ from: ms(q.from_ms), to: ms(q.to_ms), buckets: q.buckets })}`,
    );
    return parseContract('trends answer', trendsAnswerSchema, answer);
  }

  /** All records of a query, page by page, up to `max`; newest first unless `order` says otherwise. */
  async allRecords(
    patientId: string,
    q: Omit<RecordQuery, 'offset' | 'limit'>,
    max = 20_000,
    pageSize = 1000,
  ): Promise<{ items: ApiRecord[]; total: number }> {
    const items: ApiRecord[] = [];
    let total = 0;
    for (let offset = 0; items.length < max; ) {
      const p = await this.records(patientId, { order: 'desc', ...q, offset, limit: Math.min(pageSize, max - items.length) });
      total = p.total;
      items.push(...p.items);
      offset += p.items.length;
      // A server without paging returns everything at once (offset ignored): stop after one page.
      if (p.items.length === 0 || offset >= p.total || p.total === p.items.length) break;
    }
    return { items, total };
  }

  appendRecord(
    patientId: string,
    body: { type: RecordType; t_ms?: number; data: Record<string, unknown> },
  ): Promise<ApiRecord> {
    return this.request('POST', `/api/v1/patients/${encodeURIComponent(patientId)}/records`, body);
  }

  /**
   * Uploads a record with XMLHttpRequest so the caller sees the upload's progress (0–1); the server's
   * problem detail (e.g. the parser's `data.csv:12: …`) comes back unchanged as an ApiError.
   */
  async uploadRecord(
    patientId: string,
    body: { type: RecordType; t_ms?: number; data: Record<string, unknown> },
    onProgress: (fraction: number) => void,
    signal?: AbortSignal,
  ): Promise<ApiRecord> {
    if (!this.#tokens) throw new ApiError(401, 'not logged in');
    if (this.#now() > this.#expiresAt - REFRESH_MARGIN_MS) await this.refresh();
    const text = JSON.stringify(body);
    const send = () =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const x = this.#xhr();
        x.open('POST', `${this.#base}/api/v1/patients/${encodeURIComponent(patientId)}/records`);
        x.withCredentials = true;
        x.setRequestHeader('content-type', 'application/json');
        x.setRequestHeader('authorization', `Bearer ${this.#tokens!.access_token}`);
        x.upload.onprogress = (e) => {
          if (e.lengthComputable && e.total > 0) onProgress(Math.min(1, e.loaded / e.total));
        };
        x.onload = () => resolve({ status: x.status, text: x.responseText });
        x.onerror = () => reject(new ApiError(0, 'the upload failed: no answer from the server (network error)'));
        x.onabort = () => reject(new ApiError(0, 'the upload was cancelled'));
        signal?.addEventListener('abort', () => x.abort(), { once: true });
        onProgress(0);
        x.send(text);
      });
    let r = await send();
    if (r.status === 401 && this.#tokens) {
      await this.refresh();
      r = await send();
    }
    if (r.status < 200 || r.status >= 300) throw problemFromText(r.status, '', r.text);
    onProgress(1);
    return JSON.parse(r.text) as ApiRecord;
  }

  prescribe(
    patientId: string,
    body: { text: string; medication?: string; dose?: string; valid_until?: string },
  ): Promise<ApiRecord> {
    return this.request('POST', `/api/v1/patients/${encodeURIComponent(patientId)}/prescriptions`, body);
  }

  /** Acknowledges one alert onset of an HRV record. */
  ackAlert(
    patientId: string,
    body: { hrv_record: string; alert_type: string; onset_ms: number; comment?: string },
  ): Promise<ApiRecord> {
    return this.request('POST', `/api/v1/patients/${encodeURIComponent(patientId)}/alerts/ack`, body);
  }

  /** Mean of `metric` over [from_ms, to_ms) for one patient, or across the caller's patients when patientId is null. */
  aggregate(patientId: string | null, metric: string, from_ms: number, to_ms: number): Promise<AggregateAnswer> {
    const q = qs({ metric, from: Math.floor(from_ms), to: Math.floor(to_ms) });
    return this.request(
      'GET',
      patientId === null ? `/api/v1/aggregates${q}` : `/api/v1/patients/${encodeURIComponent(patientId)}/aggregates${q}`,
    );
  }

  async users(): Promise<UserView[]> {
    const a = await this.request<{ users?: UserView[]; items?: UserView[] }>('GET', '/api/v1/users');
    return a.items ?? a.users ?? [];
  }

  createUser(body: {
    username: string;
    password: string;
    role: string;
    display_name?: string;
    patient_id?: string;
    patients?: string[];
  }): Promise<UserView & { grant?: GrantView }> {
    return this.request('POST', '/api/v1/users', body);
  }

  /** Grants waiting for a second admin (the two-person rule). */
  async pendingGrants(): Promise<GrantView[]> {
    return (await this.request<{ grants: GrantView[] }>('GET', '/api/v1/grants?state=pending')).grants;
  }

  /** Approves a grant; for an account or a reset the answer carries this admin's part of the enrolment code. */
  approveGrant(grantId: string): Promise<{ grant: GrantView; enrolment_code?: string }> {
    return this.request('POST', `/api/v1/grants/${encodeURIComponent(grantId)}/approve`, {});
  }

  rejectGrant(grantId: string): Promise<{ grant: GrantView }> {
    return this.request('POST', `/api/v1/grants/${encodeURIComponent(grantId)}/reject`, {});
  }

  setAssignments(userId: string, patients: string[]): Promise<UserView & { grant?: GrantView }> {
    return this.request('PUT', `/api/v1/users/${encodeURIComponent(userId)}/assignments`, { patients });
  }

  setDisabled(userId: string, disabled: boolean): Promise<UserView> {
    return this.request('POST', `/api/v1/users/${encodeURIComponent(userId)}/disable`, { disabled });
  }

  resetPassword(userId: string, password: string): Promise<unknown> {
    return this.request('POST', `/api/v1/users/${encodeURIComponent(userId)}/password`, { password });
  }

  /** A page of the audit log with the chain's verification status. */
  async audit(q: AuditQuery = {}): Promise<AuditPage> {
    const a = await this.request<Partial<AuditPage> & { entries?: AuditEntry[] }>(
      'GET',
      `/api/v1/audit${qs({
        q: q.q,
        actor: q.actor,
        action: q.action,
        outcome: q.outcome,
        from: ms(q.from_ms),
        to: ms(q.to_ms),
        offset: q.offset,
        limit: q.limit,
      })}`,
    );
    const items = a.items ?? a.entries ?? [];
    return { total: a.total ?? items.length, items, verification: a.verification ?? null };
  }

  /**
   * Follows a patient's new records until `signal` aborts; resolves when the stream ends. `onOpen` runs
   * once the server accepted the subscription.
   */
  async live(
    patientId: string,
    onRecord: (r: ApiRecord) => void,
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
        const rec = JSON.parse(ev.data) as ApiRecord;
        if (rec.patient_id === patientId) onRecord(rec);
      },
      signal,
    );
  }
}
