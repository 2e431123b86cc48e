/**
 * Access-side benchmark: login latency, record append and aggregate throughput, and the cost of Paillier
 * at 2048 bits, on the embedded database (and PostgreSQL when `--sp-db` is given). Prints a table and
 * returns the figures for bench-results/access.json.
 */
import { performance } from 'node:perf_hooks';
import { generateIdentity, generateSigningKeyPair } from '../crypto/index.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { MAX_INGEST_ITEMS } from '../contracts/index.js';
import { PaillierEncryptor, SlotCodec, addCiphertexts, decryptPacked } from '../crypto/index.js';
import { memoryAnchor } from '../csp/index.js';
import { generateCspKeys } from '../csp/index.js';
import { CspService } from '../csp/index.js';
import { SpService } from '../sp/index.js';
import { openScratchDb, openSqlDb } from '../sql/index.js';
import { inProcessTransport } from '../protocol/index.js';
import { signDeviceToken } from '../csp/index.js';

export interface AccessBenchOptions {
  spDb?: string;
  paillierBits?: number;
  logins?: number;
  appends?: number;
  patients?: number;
  log?: (line: string) => void;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

/** Paillier figures (ms per operation) of the access suite; also `npm run bench -- --suite paillier` alone. */
export interface PaillierFigures {
  paillier_bits: number;
  paillier_keygen_ms: number;
  paillier_randomness_crt_ms: number;
  paillier_randomness_plain_ms: number;
  paillier_encrypt_pooled_ms: number;
  /** Homomorphic addition, per ciphertext added into an aggregate. */
  paillier_add_per_ct_ms: number;
  /** One decryption (CRT) of an aggregate's packed slots. */
  paillier_decrypt_crt_ms: number;
  /** Ciphertexts summed by the timed aggregate, and its whole cost (additions + one decryption), ms. */
  paillier_aggregate_cts: number;
  paillier_aggregate_ms: number;
  paillier_cpu_ms_per_patient_hour: number;
  paillier_cores_for_10000_patients: number;
}

/** The Paillier primitives and one aggregate (sum of `n` ciphertexts, then its decryption) at `bits`; no database. */
export async function runPaillierBench(o: { bits?: number; n?: number; log?: (line: string) => void } = {}): Promise<PaillierFigures> {
  const bits = o.bits ?? 2048;
  o.log?.(`generating Paillier keys (${bits} bits)…`);
  const t = performance.now();
  const keys = await generateCspKeys('csp', bits);
  return paillierFigures(keys.paillier, bits, performance.now() - t, o.n);
}

function paillierFigures(p: Awaited<ReturnType<typeof generateCspKeys>>['paillier'], bits: number, keygenMs: number, n = 40): PaillierFigures {
  const codec = new SlotCodec(bits);
  const withCrt = new PaillierEncryptor(p.publicKey, p.privateKey);
  const plain = new PaillierEncryptor(p.publicKey);
  let t = performance.now();
  withCrt.refill(n);
  const randomnessCrt = (performance.now() - t) / n;
  const nPlain = Math.max(1, Math.round(n / 4));
  t = performance.now();
  plain.refill(nPlain);
  const randomnessPlain = (performance.now() - t) / nPlain;
  const m = codec.pack([1n, 41_000n, 1n, 30_000n, 1n, 70_000n, 1n, 800_000n]);
  t = performance.now();
  const cts: bigint[] = [];
  for (let i = 0; i < n; i++) cts.push(withCrt.encrypt(m));
  const encrypt = (performance.now() - t) / n;
  t = performance.now();
  const sum = addCiphertexts(p.publicKey, cts);
  const addAll = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < 10; i++) decryptPacked(p.privateKey, sum, codec, 8);
  const decrypt = (performance.now() - t) / 10;
  // One HRV record per 5-minute window: 12 Paillier encryptions per patient-hour.
  const perHourMs = 12 * (randomnessCrt + encrypt);
  return {
    paillier_bits: bits,
    paillier_keygen_ms: keygenMs,
    paillier_randomness_crt_ms: randomnessCrt,
    paillier_randomness_plain_ms: randomnessPlain,
    paillier_encrypt_pooled_ms: encrypt,
    paillier_add_per_ct_ms: addAll / n,
    paillier_decrypt_crt_ms: decrypt,
    paillier_aggregate_cts: n,
    paillier_aggregate_ms: addAll + decrypt,
    paillier_cpu_ms_per_patient_hour: perHourMs,
    paillier_cores_for_10000_patients: (perHourMs * 10_000) / 3_600_000,
  };
}

/** Runs the access benchmark; figures in ms and operations per second. */
export async function runAccessBench(o: AccessBenchOptions = {}): Promise<Record<string, number | string>> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const bits = o.paillierBits ?? 2048;
  const out: Record<string, number | string> = {
    paillier_bits: bits,
    sp_engine: o.spDb ? 'postgres' : 'pglite',
  };

  log(`generating CSP keys (Paillier ${bits} bits)…`);
  let t = performance.now();
  const keys = await generateCspKeys('csp', bits);
  Object.assign(out, paillierFigures(keys.paillier, bits, performance.now() - t));

  // The services.
  // On PostgreSQL the benchmark works in a schema of its own and drops it afterwards: nothing else is touched.
  const scratch = await openScratchDb(o.spDb ?? 'memory:', 'hrvault_bench');
  const spDb = scratch.db;
  const cspDb = await openSqlDb('memory:');
  const spId = generateIdentity('sp');
  const sp = await SpService.create({
    identity: spId,
    csp: { id: 'csp', publicKey: keys.identity.publicKey },
    db: spDb,
    reorderWindow: 64,
  });
  const csp = await CspService.create({
    keys,
    db: cspDb,
    sp: { id: 'sp', publicKey: spId.publicKey, transport: inProcessTransport(sp) },
    auditAnchor: memoryAnchor(),
  });
  const pw = 'correct horse battery staple';
  const patients = o.patients ?? 200;
  log(`registering ${patients} patients and a doctor…`);
  const ids = Array.from({ length: patients }, (_, i) => `P-${i}`);
  for (const id of ids.slice(0, 5))
    await csp.registerUser('bootstrap', {
      username: `pat-${id.toLowerCase()}`,
      password: pw,
      role: 'patient',
      patient_id: id,
    });
  await csp.registerUser('bootstrap', { username: 'doc', password: pw, role: 'doctor', patients: ids });
  // Registration hashes a password (Argon2id); directory entries for the rest are enough for aggregates.
  for (const id of ids.slice(5))
    await csp.registerUser('bootstrap', {
      username: `pat-${id.toLowerCase()}`,
      password: pw,
      role: 'patient',
      patient_id: id,
    });

  const logins = o.logins ?? 30;
  const lat: number[] = [];
  for (let i = 0; i < logins; i++) {
    t = performance.now();
    await csp.login('doc', pw);
    lat.push(performance.now() - t);
  }
  out.login_p50_ms = quantile(lat, 0.5);
  out.login_p99_ms = quantile(lat, 0.99);

  const appends = o.appends ?? 1000;
  // Real results of the enclave's analysis, delivered the way every result arrives: a registered gateway's
  // device-signed ingest, up to 200 results a request as the gateway sends them; each result is stored as an hrv and an rr_batch record.
  const gwKey = generateSigningKeyPair();
  await csp.registerDevice('bootstrap', { id: 'gw-bench', signing_public_key: Buffer.from(gwKey.publicKey).toString('hex'), patients: ids });
  const perPatient = Math.ceil(appends / ids.length);
  const items = ids
    .flatMap((patient) => pipelineResults({ source: 'synthetic', gateway: 'gw-bench', durationS: perPatient * 10 }).slice(0, perPatient).map((result) => ({ patient, result })))
    .slice(0, appends);
  log(`ingesting ${items.length} pipeline results (HRV + RR records)…`);
  t = performance.now();
  for (let i = 0; i < items.length; i += MAX_INGEST_ITEMS) {
    const device = await csp.authenticateDevice(await signDeviceToken(gwKey, 'gw-bench'));
    await csp.ingestResults(device, { gateway: 'gw-bench', items: items.slice(i, i + MAX_INGEST_ITEMS) });
  }
  out.append_hrv_per_s = appends / ((performance.now() - t) / 1000);

  const doc = await csp.authenticate((await csp.login('doc', pw)).access_token);
  const aggLat: number[] = [];
  for (let i = 0; i < 20; i++) {
    t = performance.now();
    await csp.aggregate(doc, { patient_id: ids[i % ids.length]! }, 'sdnn_ms', 0, 1e12);
    aggLat.push(performance.now() - t);
  }
  out.aggregate_one_patient_p50_ms = quantile(aggLat, 0.5);
  t = performance.now();
  const all = await csp.aggregate(doc, { mine: true }, 'sdnn_ms', 0, 1e12);
  out.aggregate_all_patients_ms = performance.now() - t;
  out.aggregate_all_patients_records = all.n;
  out.aggregate_per_s_one_patient = 1000 / (out.aggregate_one_patient_p50_ms as number);

  await scratch.drop();
  await cspDb.close();
  return out;
}

/** Formats the figures as a two-column table. */
export function formatAccessTable(r: Record<string, number | string>): string {
  const rows = Object.entries(r).map(([k, v]) => [
    k,
    typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3)) : v,
  ]);
  const w = Math.max(...rows.map(([k]) => k!.length));
  return rows.map(([k, v]) => `${k!.padEnd(w)}  ${v}`).join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spDb = process.argv.find((a) => a.startsWith('postgres'));
  const r = await runAccessBench(spDb ? { spDb } : {});
  process.stdout.write(`${formatAccessTable(r)}\n`);
}
