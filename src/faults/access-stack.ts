/**
 * The access services for the fault scenarios: `hrvault sp` and `hrvault csp` as separate CLI processes the test
 * can SIGKILL and restart on the same port and data, enrolled as an operator does it through the API (patients,
 * a doctor, the gateway as a device), so that the pipeline of `stack.ts` forwards its verified results to a real
 * CSP. The stored records are read back through the CSP's API as the doctor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecordData, type HrvRecordData, type RrBatchData } from '../contracts/index.js';
import { ensureGatewayKeys } from '../gateway/index.js';
import { exportIdentityPublicKey } from '../crypto/index.js';
import { loadOrCreateCspKeys } from '../csp/index.js';
import { loadOrCreateIdentity } from '../sp/index.js';
import { spawnCli, type CliProcess } from '../test-support/processes.js';
import { startWireRelay, type WireRelay } from './access-relay.js';
import { createApprovedUser, fetchCall, loginAs } from '../api/test-support/grants.js';
import type { ProcessRun } from './stack.js';

export const ACCESS_PASSWORD = 'faults access password, long enough';
export const DOCTOR = 'dr.faults';
/**
 * Environment of every gateway in these scenarios: its CSP forwarder backs off at most 2 s (default 30 s), so that
 * a CSP back from a kill is used again within the "nothing moves any more" deadlines.
 */
export const ACCESS_GATEWAY_ENV: Record<string, string> = { HRVAULT_GATEWAY_RETRY_MAX_MS: '2000' };

/** One result as the CSP stored it: its `hrv` record and the `rr_batch` beside it (source seq = the gateway's). */
export interface StoredRecord {
  patient: string;
  type: 'hrv' | 'rr_batch';
  /** The gateway's sequence number of the result (`data.source.seq`). */
  seq: number;
  t_ms: number;
  data: HrvRecordData | RrBatchData;
}

/** What a read of every stored pipeline record returned. */
export interface StoredRead {
  records: StoredRecord[];
  /** Integrity failures the CSP reported while reading (empty when every record verified). */
  integrityFailures: string[];
}

export interface AccessServices {
  dir: string;
  /** The CSP's `--data-dir` (`hrvault audit verify --data-dir` takes it). */
  cspDir: string;
  /** The SP's `--data-dir`: the untrusted store the I2 scan reads. */
  spDir: string;
  /** The CSP's base URL (the gateway's `--csp-url`); fixed after its first start. */
  url(): string;
  /** The relay the CSP reaches the SP through (when started with `relay`), which can corrupt a message. */
  relay: WireRelay | undefined;
  /** Every SP and CSP process started so far, in order. */
  runs: ProcessRun[];
  /** Starts `hrvault sp` (on the port of its first start) and waits for its address line. */
  startSp(env?: Record<string, string>): Promise<CliProcess>;
  /** Starts `hrvault csp` (same port, same data) and waits for "API at"; `env` arms failpoints. */
  startCsp(env?: Record<string, string>): Promise<CliProcess>;
  /** Registers the patients' logins, the doctor assigned to them, and the gateway as a device serving them. */
  enrol(patients: readonly string[], gatewayId: string, gatewayDir: string): Promise<void>;
  /** Calls the CSP's API as the doctor (logs in again when the CSP restarted and the token is refused). */
  asDoctor(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** Every pipeline record of `patients`, read through the API (all pages). */
  readStored(patients: readonly string[]): Promise<StoredRead>;
  /** How many `hrv` records the CSP has stored for `patients` (one per stored result). */
  storedResults(patients: readonly string[]): Promise<number>;
  /** SIGKILLs every process still running. */
  killAll(): Promise<void>;
  close(keep?: boolean): Promise<void>;
}

async function call(base: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    // not JSON: keep the text for the message
  }
  return { status: res.status, json };
}

/**
 * Creates the keys of both services (as `--init` does), starts the SP, then the CSP with an admin; nothing is enrolled yet.
 * With `relay`, the CSP reaches the SP through a WireRelay; `cspEnv` is the first CSP's environment (a failpoint).
 */
export async function startAccessServices(name: string, o: { relay?: boolean; cspEnv?: Record<string, string> } = {}): Promise<AccessServices> {
  const dir = mkdtempSync(join(tmpdir(), `hrv-faults-${name}-access-`));
  const cspDir = join(dir, 'csp');
  const spDir = join(dir, 'sp');
  // The keys `csp --init` and `sp --init` would create (the same functions), made here: two process starts less.
  await mkdir(join(cspDir, 'csp'), { recursive: true, mode: 0o700 });
  await mkdir(join(spDir, 'sp'), { recursive: true, mode: 0o700 });
  const cspKey = exportIdentityPublicKey((await loadOrCreateCspKeys(join(cspDir, 'csp', 'keys.json'), 1024)).identity.publicKey);
  const spKey = exportIdentityPublicKey((await loadOrCreateIdentity(join(spDir, 'sp', 'identity.json'), 'sp')).publicKey);
  const runs: ProcessRun[] = [];
  let spPort = 0;
  let cspPort = 0;
  let doctorToken: string | undefined;
  const spWire = (): string => `http://127.0.0.1:${spPort}/sp/v1/wire`;
  const relay = o.relay === true ? await startWireRelay(spWire) : undefined;

  const services: AccessServices = {
    dir,
    cspDir,
    spDir,
    runs,
    relay,
    url: () => `http://127.0.0.1:${cspPort}`,
    async startSp(env = {}) {
      const proc = spawnCli(['sp', '--csp-public-key', cspKey, '--data-dir', spDir, '--port', String(spPort)], { env });
      runs.push({ name: 'sp', proc });
      const m = await proc.waitFor(/hrvault sp: http:\/\/[0-9.]+:(\d+)\//, { timeoutMs: 90_000 });
      spPort = Number(m[1]);
      return proc;
    },
    async startCsp(env = {}) {
      if (spPort === 0) throw new Error('start the SP before the CSP (the CSP pins it and handshakes at start)');
      const proc = spawnCli(['csp', '--sp-url', relay?.url ?? spWire(), '--sp-public-key', spKey, '--data-dir', cspDir, '--port', String(cspPort)], {
        env: { HRVAULT_CSP_ADMIN_PASSWORD: ACCESS_PASSWORD, HRVAULT_CSP_SECOND_ADMIN_PASSWORD: ACCESS_PASSWORD, ...env },
      });
      runs.push({ name: 'csp', proc });
      const m = await proc.waitFor(/API at http:\/\/[0-9.]+:(\d+)\/api\/v1/, { timeoutMs: 120_000 });
      cspPort = Number(m[1]);
      return proc;
    },
    async enrol(patients, gatewayId, gatewayDir) {
      const login = await call(services.url(), 'POST', '/auth/login', undefined, { username: 'admin', password: ACCESS_PASSWORD });
      const admin = (login.json as { access_token: string }).access_token;
      const created = async (path: string, body: unknown): Promise<void> => {
        const r = await call(services.url(), 'POST', path, admin, body);
        if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${JSON.stringify(r.json)}`);
      };
      // Accounts follow the two-person rule: admin requests, admin2 approves, the user enrols with their password.
      const grants = fetchCall(services.url());
      const admins = { requester: admin, approver: await loginAs(grants, 'admin2', ACCESS_PASSWORD) };
      for (const p of patients) await createApprovedUser(grants, admins, { username: p.toLowerCase(), role: 'patient', patient_id: p }, ACCESS_PASSWORD);
      await createApprovedUser(grants, admins, { username: DOCTOR, role: 'doctor', display_name: 'Dr Faults', patients: [...patients] }, ACCESS_PASSWORD);
      const signing = Buffer.from(ensureGatewayKeys(join(gatewayDir, 'keys')).signingPublicKey).toString('hex');
      await created('/devices', { id: gatewayId, signing_public_key: signing, patients });
    },
    async asDoctor(method, path, body) {
      for (let attempt = 0; ; attempt++) {
        if (doctorToken === undefined) {
          const login = await call(services.url(), 'POST', '/auth/login', undefined, { username: DOCTOR, password: ACCESS_PASSWORD });
          if (login.status !== 200) throw new Error(`doctor login: ${login.status} ${JSON.stringify(login.json)}`);
          doctorToken = (login.json as { access_token: string }).access_token;
        }
        const r = await call(services.url(), method, path, doctorToken, body);
        if (r.status !== 401 || attempt > 0) return r;
        doctorToken = undefined;
      }
    },
    async readStored(patients) {
      const out: StoredRead = { records: [], integrityFailures: [] };
      const PAGE = 10_000;
      for (const patient of patients) {
        for (const type of ['hrv', 'rr_batch'] as const) {
          for (let offset = 0; ; offset += PAGE) {
            const r = await services.asDoctor('GET', `/patients/${patient}/records?type=${type}&limit=${PAGE}&offset=${offset}`);
            if (r.status !== 200) throw new Error(`GET ${patient} ${type} records: ${r.status} ${JSON.stringify(r.json)}`);
            const page = r.json as { items: { type: string; t_ms: number; data: unknown }[]; integrity_failures: { seq: number; reason: string }[] };
            for (const f of page.integrity_failures) out.integrityFailures.push(`${patient} record ${f.seq}: ${f.reason}`);
            for (const item of page.items) {
              const data = parseRecordData(type, item.data);
              if (data.source.kind !== 'pipeline') continue;
              out.records.push({ patient, type, seq: data.source.seq, t_ms: item.t_ms, data });
            }
            if (page.items.length < PAGE) break;
          }
        }
      }
      return out;
    },
    async storedResults(patients) {
      let n = 0;
      for (const p of patients) {
        const r = await services.asDoctor('GET', `/patients/${p}/records?type=hrv&limit=1`);
        if (r.status !== 200) throw new Error(`GET ${p} hrv records: ${r.status} ${JSON.stringify(r.json)}`);
        n += (r.json as { total: number }).total;
      }
      return n;
    },
    async killAll() {
      for (const r of runs) r.proc.signalGroup('SIGKILL');
      await Promise.all(runs.map((r) => r.proc.exited));
    },
    async close(keep = false) {
      await services.killAll();
      await relay?.close();
      if (!keep) rmSync(dir, { recursive: true, force: true });
      else console.log(`faults: kept ${dir} for inspection`);
    },
  };
  await services.startSp();
  await services.startCsp(o.cspEnv);
  return services;
}

/**
 * Re-reads `read()` (a count from the CSP) every `everyMs` in the background until `stop()`, keeping the latest
 * value for synchronous conditions (untilSettled, awaitFailpoint); a read that fails (the CSP is down) keeps the last.
 */
export function backgroundCount(read: () => Promise<number>, everyMs = 500): { value: () => number; stop: () => Promise<void> } {
  let value = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      try {
        value = await read();
      } catch {
        // The CSP is restarting: the next round reads again.
      }
      // The polling interval (not a wait for anything): stop() cuts it short.
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, everyMs);
      });
    }
  })();
  return {
    value: () => value,
    stop: async () => {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
