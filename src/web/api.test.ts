/** ApiClient without a server: cookie session restore, XHR upload progress and problem details, paging. */
import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, type XhrLike } from './api.js';

/** A fake XMLHttpRequest that answers after two progress events. */
function fakeXhr(status: number, body: string, seen: { headers: Record<string, string>; sent?: string }): () => XhrLike {
  return () => {
    const x: XhrLike = {
      status: 0,
      responseText: '',
      withCredentials: false,
      upload: { onprogress: null },
      onload: null,
      onerror: null,
      onabort: null,
      open: () => undefined,
      setRequestHeader: (k, v) => void (seen.headers[k] = v),
      abort: () => x.onabort?.(),
      send: (b) => {
        seen.sent = b;
        setTimeout(() => {
          x.upload.onprogress?.({ loaded: b.length / 2, total: b.length, lengthComputable: true });
          x.upload.onprogress?.({ loaded: b.length, total: b.length, lengthComputable: true });
          Object.assign(x, { status, responseText: body });
          x.onload?.();
        }, 1);
      },
    };
    return x;
  };
}

/** A fetch that answers login and a cookie refresh (no body), as the new auth endpoints do. */
function cookieFetch(log: string[]): (input: string, init?: RequestInit) => Promise<Response> {
  return async (url, init) => {
    log.push(`${init?.method ?? 'GET'} ${url} ${init?.body === undefined ? 'no-body' : 'body'} ${init?.credentials ?? ''}`);
    const json = (o: unknown, status = 200) => new Response(JSON.stringify(o), { status, headers: { 'content-type': 'application/json' } });
    if (url.endsWith('/auth/login')) return json({ access_token: 'a1', expires_in: 600, token_type: 'Bearer' });
    if (url.endsWith('/auth/refresh')) return json({ access_token: 'a2', expires_in: 600, token_type: 'Bearer' });
    return json({ total: 0, items: [] });
  };
}

describe('ApiClient session and upload (unit)', () => {
  it('restores a session on load from the refresh cookie, with no body and no stored token', async () => {
    const log: string[] = [];
    const c = new ApiClient({ fetch: cookieFetch(log) });
    expect(await c.restore()).toBe(true);
    expect(c.loggedIn).toBe(true);
    expect(c.refreshToken).toBeUndefined();
    expect(log[0]).toBe('POST /api/v1/auth/refresh no-body same-origin');
  });

  it('upload: progress events, then the record; a 422 keeps the parser detail unchanged', async () => {
    const log: string[] = [];
    const seen: { headers: Record<string, string>; sent?: string } = { headers: {} };
    const ok = new ApiClient({ fetch: cookieFetch(log), xhr: fakeXhr(201, JSON.stringify({ id: 'r1', type: 'rr_file' }), seen) });
    await ok.login('hw', 'pw');
    const progress: number[] = [];
    const rec = await ok.uploadRecord('P-001', { type: 'rr_file', data: { filename: 'data.csv', text: '1,2' } }, (f) => progress.push(f));
    expect(rec.id).toBe('r1');
    expect(progress).toEqual([0, 0.5, 1, 1]);
    expect(seen.headers.authorization).toBe('Bearer a1');
    const detail = 'data.csv:12: rr_ms "abc" is not a number';
    const bad = new ApiClient({
      fetch: cookieFetch(log),
      xhr: fakeXhr(422, JSON.stringify({ type: 'about:blank', title: 'Unprocessable', status: 422, detail }), { headers: {} }),
    });
    await bad.login('hw', 'pw');
    const err = await bad.uploadRecord('P-001', { type: 'rr_file', data: { filename: 'data.csv', text: 'x' } }, () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect((err as ApiError).detail).toBe(detail);
  });
});

describe('ApiClient paging (unit)', () => {
  const recs = Array.from({ length: 2345 }, (_, i) => ({ id: `r${i}`, patient_id: 'P-1', type: 'note', t_ms: 1_000_000 + i, author: 'u', created_ms: 0, data: { text: String(i) } }));
  it('allRecords follows offset/limit pages of a paging server, newest first', async () => {
    const asked: string[] = [];
    const c = new ApiClient({
      fetch: async (url, init) => {
        if (url.endsWith('/auth/login')) return new Response(JSON.stringify({ access_token: 'a', expires_in: 600 }));
        asked.push(url);
        const q = new URL(url, 'http://x').searchParams;
        const off = Number(q.get('offset'));
        const lim = Number(q.get('limit'));
        const sorted = [...recs].sort((a, b) => b.t_ms - a.t_ms);
        void init;
        return new Response(JSON.stringify({ total: recs.length, items: sorted.slice(off, off + lim) }));
      },
    });
    await c.login('u', 'p');
    const all = await c.allRecords('P-1', { type: 'note' });
    expect(all.items.length).toBe(2345);
    expect(all.items[0]!.t_ms).toBe(1_000_000 + 2344);
    expect(asked.length).toBe(3);
    expect(asked[0]).toContain('order=desc');
  });
  it('a server without paging (400 on offset/order) is paged here', async () => {
    const c = new ApiClient({
      fetch: async (url) => {
        if (url.endsWith('/auth/login')) return new Response(JSON.stringify({ access_token: 'a', expires_in: 600 }));
        if (url.includes('offset=') || url.includes('order=')) return new Response(JSON.stringify({ detail: 'querystring must NOT have additional properties' }), { status: 400 });
        return new Response(JSON.stringify({ records: recs, integrity_failures: [] }));
      },
    });
    await c.login('u', 'p');
    const p = await c.records('P-1', { offset: 25, limit: 25, order: 'desc' });
    expect(p.total).toBe(2345);
    expect(p.items.map((r) => r.t_ms)).toEqual(Array.from({ length: 25 }, (_, i) => 1_000_000 + 2344 - 25 - i));
  });
});

