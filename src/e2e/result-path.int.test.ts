/**
 * The result path, end to end: every verified result reaches the CSP through the gateway's device credential
 * and is stored as an `hrv` record (with the enclave's measures) and an `rr_batch` record (its beats); a
 * replayed result file never becomes a second record.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRecordData, splitResultBundle } from '../contracts/index.js';
import { runDemo, type DemoContext } from '../commands/index.js';
import { areaDir } from '../cloud/index.js';

const silent = { out: () => undefined, err: () => undefined };

async function api(base: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

describe('results reach the doctor', () => {
  it('each verified result is stored once as hrv + rr_batch records with numeric measures; a replayed result file is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'result-path-'));
    const credentialsFile = join(dir, 'logins.json');
    const stash = join(dir, 'stash');
    mkdirSync(stash);
    let copier: NodeJS.Timeout | undefined;
    const checks: Record<string, unknown> = {};
    const s = await runDemo(
      {
        patients: 4,
        durationS: 60,
        batchIntervalS: 0.5,
        mode: 'secure',
        speed: 30,
        logLevel: 'warn',
        access: { port: 0, credentialsFile, paillierBits: 1024 },
        // Keep a copy of every result file the host writes, to replay one later as the host could.
        onStarted: (ctx: DemoContext) => {
          const outbox = areaDir(join(ctx.dataDir, 'cloud'), 'gw1', 'outbox');
          copier = setInterval(() => {
            if (!existsSync(outbox)) return;
            for (const n of readdirSync(outbox)) {
              // The host writes one bundle per micro-batch; each result in it is a file the host could serve alone.
              if (!n.endsWith('.bundle')) continue;
              try {
                for (const e of splitResultBundle(readFileSync(join(outbox, n))).entries) if (!existsSync(join(stash, e.name))) writeFileSync(join(stash, e.name), e.bytes);
              } catch {
                // the gateway fetched and deleted it between the listing and the copy
              }
            }
          }, 20);
        },
        beforeSummary: async (ctx: DemoContext) => {
          clearInterval(copier);
          const base = ctx.apiUrl!;
          const logins = JSON.parse(readFileSync(credentialsFile, 'utf8')) as { role: string; username: string; password: string }[];
          // The two demo doctors share the patients between them: ask each patient's own doctor.
          const tokens: string[] = [];
          for (const d of logins.filter((l) => l.role === 'doctor')) {
            const login = await api(base, '/auth/login', undefined, { username: d.username, password: d.password });
            tokens.push((login.json as { access_token: string }).access_token);
          }
          const get = async (path: string): Promise<{ status: number; json: unknown }> => {
            let r = { status: 0, json: null as unknown };
            for (const t of tokens) if ((r = await api(base, path, t)).status !== 404) return r;
            return r;
          };
          const count = async (type: string): Promise<number> => {
            let n = 0;
            for (const p of ['P0001', 'P0002', 'P0003', 'P0004']) {
              const r = await get(`/patients/${p}/records?type=${type}&limit=10000`);
              expect(r.status).toBe(200);
              const items = ((r.json as { records?: unknown[]; items?: unknown[] }).records ?? (r.json as { items: unknown[] }).items) as { type: 'hrv' | 'rr_batch'; data: unknown }[];
              for (const rec of items) parseRecordData(rec.type, rec.data);
              if (p === 'P0001' && type === 'hrv') checks.p1 = items;
              n += items.length;
            }
            return n;
          };
          checks.hrv = await count('hrv');
          checks.rr = await count('rr_batch');
          // Simulated time runs 30× ahead of the wall clock: ask for an hour around the run.
          checks.aggregate = (await get(`/patients/P0001/aggregates?metric=sdnn_ms&from=${Date.now() - 3_600_000}&to=${Date.now() + 3_600_000}`)).json;
          // The host replays a result file it served before, under a new name (the sequence number zero-padded):
          // the gateway refuses it by its authenticated (patient, seq), the CSP stores nothing new.
          const replayed = readdirSync(stash).sort()[0]!;
          const renamed = replayed.replace(/-(\d+)\.result$/, (_m, seq: string) => `-00${seq}.result`);
          copyFileSync(join(stash, replayed), join(areaDir(join(ctx.dataDir, 'cloud'), 'gw1', 'outbox'), renamed));
          checks.replayRefused = await until(() => ctx.gateway.stats().results_replayed >= 1, 20_000);
          checks.hrvAfterReplay = await count('hrv');
        },
      },
      silent,
    );
    expect(s.lost).toBe(0);
    expect(s.results_verified).toBe(s.files);
    expect(s.records_ingested).toBe(s.results_verified);
    expect(checks.hrv).toBe(s.results_verified);
    expect(checks.rr).toBe(s.results_verified);
    const p1 = checks.p1 as { data: { measures: { sdnn_ms: number | null; rmssd_ms: number | null; mean_hr_bpm: number | null } | null } }[];
    const measured = p1.filter((r) => r.data.measures?.sdnn_ms != null);
    expect(measured.length).toBeGreaterThan(p1.length / 2);
    for (const r of measured) {
      expect(r.data.measures!.sdnn_ms).toBeGreaterThan(0);
      expect(r.data.measures!.mean_hr_bpm).toBeGreaterThan(30);
    }
    const agg = checks.aggregate as { mean: number | null; n: number };
    expect(agg.n).toBeGreaterThan(0);
    expect(agg.mean).toBeGreaterThan(0);
    expect(checks.replayRefused).toBe(true);
    expect(checks.hrvAfterReplay).toBe(checks.hrv);
  }, 240_000);
});
