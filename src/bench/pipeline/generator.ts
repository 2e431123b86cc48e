/**
 * The load generator: N simulated clients, each one patient's stream shipping one batch file every batch interval,
 * through a few gateway identities (up to `clientsPerGateway` patients behind each, one SFTP connection each, as one
 * real gateway serves many patients). Sealing, upload (temp name, then rename), attestation and result opening are
 * the real gateway's code paths; what it skips is the gateway's MQTT intake and spool (the beats are generated here).
 * End-to-end latency runs from each batch's cut (its newest beat) to its result opened and verified.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventEmitter } from 'node:events';
import SftpClient from 'ssh2-sftp-client';
import { pseudonymise, verifyQuoteDetails } from '../../crypto/index.js';
import { BUNDLED_RESULT_NAME, RESULT_BUNDLE_NAME, splitResultBundle } from '../../contracts/index.js';
import { encodeBatchFile, GatewayEpochs, openResultFile, parseResultBody, sshFingerprint } from '../../gateway/index.js';
import { selfUsage } from './proc-usage.js';
import type { GeneratorConfig, GeneratorFinal } from './protocol.js';

type Gw = GeneratorConfig['gateways'][number];

interface Client {
  pseudonym: string;
  /** Recording time of the last beat sent (ms). */
  t: number;
  phase: number;
}

/** Uploads in flight per gateway connection (the server allows 64 open handles per session). */
const UPLOADS_IN_FLIGHT = 8;
/** `time_ms,rr_ms\n`, the first line of every batch CSV. */
const CSV_HEADER_BYTES = 14;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Mean RR interval (ms) of a simulated patient; a rate above 1 beat/s runs the recording faster, as the demo's --speed. */
const MEAN_RR_MS = 1000;

/** The interval (ms) ending at recording time `t` for a client of phase `phase`: sinus arrhythmia around 60 bpm. */
function rrAt(t: number, phase: number): number {
  return Math.round(MEAN_RR_MS + 40 * Math.sin((2 * Math.PI * t) / 4000 + phase) + 20 * Math.sin((2 * Math.PI * t) / 30_000 + 2 * phase));
}

/** Runs `fn` over `items` with UPLOADS_IN_FLIGHT calls at a time on one connection. */
async function inFlight<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(UPLOADS_IN_FLIGHT, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Runs the load for `cfg.durationMs`, waits up to `cfg.drainMs` for the last results, and returns what it saw. */
export async function runGenerator(cfg: GeneratorConfig, onProgress: (p: { elapsed_s: number; files_sent: number; results_verified: number; upload_lag_ms: number }) => void = () => undefined): Promise<GeneratorFinal> {
  const nGw = Math.ceil(cfg.clients / cfg.clientsPerGateway);
  if (cfg.gateways.length < nGw) throw new Error(`${cfg.clients} clients at ${cfg.clientsPerGateway} per gateway need ${nGw} gateway identities; got ${cfg.gateways.length}`);
  const cpu0 = selfUsage().cpu_ms;
  const runId = randomBytes(6).toString('hex');
  const t0 = performance.now();
  const epochDir = mkdtempSync(join(tmpdir(), 'hrv-bench-epochs-'));
  const st = { files_sent: 0, bytes_sent: 0, data_bytes: 0, beats_sent: 0, results_verified: 0, results_rejected: 0, beats_in_results: 0, upload_lag_ms_max: 0 };
  const e2e: number[] = [];
  let firstError: string | null = null;
  const fail = (err: unknown): void => {
    firstError ??= err instanceof Error ? err.message : String(err);
  };
  /** Wall time (performance.now) of each outstanding batch's cut, by `<gateway>/<pseudonym>-<seq>`. */
  const cutAt = new Map<string, number>();
  const speed = cfg.rate;
  const spanMs = cfg.batchIntervalMs * speed;

  const gws = await Promise.all(
    cfg.gateways.slice(0, nGw).map(async (g: Gw, gi) => {
      const c = new SftpClient(`bench-${g.id}`, { error: fail, end: () => undefined, close: () => undefined });
      // Every request in flight holds its own end/close/error listeners on the ssh2 client (ssh2-sftp-client's design).
      (c as unknown as { client: EventEmitter }).client.setMaxListeners(4 * UPLOADS_IN_FLIGHT + 10);
      await c.connect({
        host: cfg.host,
        port: cfg.port,
        username: g.id,
        privateKey: g.sshPrivateKey,
        readyTimeout: 30_000,
        hostVerifier: (key: Buffer) => sshFingerprint(key) === cfg.hostFingerprint,
      } as Parameters<SftpClient['connect']>[0]);
      const pkey = Buffer.from(g.pseudonymKey, 'hex');
      // Patients of this run only: a server kept between runs (bench serve) has seen earlier runs' sequence numbers.
      const clients: Client[] = [];
      for (let i = gi * cfg.clientsPerGateway; i < Math.min(cfg.clients, (gi + 1) * cfg.clientsPerGateway); i++) {
        clients.push({ pseudonym: pseudonymise(`bench-${runId}-p${i}`, pkey), t: 0, phase: (i * 2.399) % (2 * Math.PI) });
      }
      const known = new Set(clients.map((x) => x.pseudonym));
      let enclaveKey: Uint8Array | undefined;
      let signers: Uint8Array[] = [];
      if (cfg.mode === 'secure') {
        const v = await attest(c, cfg);
        enclaveKey = v.enclavePublicKey;
        signers = [v.enclaveSigningKey];
      }
      const signing = Buffer.from(g.signingPrivateKey, 'hex');
      // The gateway's epoch secrets (version-2 files), in a directory of this run's own, removed at the end.
      const epochs = cfg.mode === 'secure' ? GatewayEpochs.open(join(epochDir, g.id), g.id, signing) : undefined;
      return { g, c, clients, known, enclaveKey, signers, signing, epochs, hpke: Buffer.from(g.hpkePrivateKey, 'hex'), seen: new Set<string>() };
    }),
  );
  type G = (typeof gws)[number];

  const upload = async (gw: G, seq: number): Promise<void> => {
    const sealer = { gatewayId: gw.g.id, mode: cfg.mode, signingPrivateKey: gw.signing, bucketBytes: cfg.bucketBytes, epochs: gw.epochs };
    const tStart = (seq - 1) * spanMs;
    const tEnd = seq * spanMs;
    const one = async (cl: Client): Promise<void> => {
      const beats: { t: number; r: number }[] = [];
      // The CSV's length before padding (integer ms: header, then "t,r\n" per beat), without formatting it twice.
      let data = CSV_HEADER_BYTES;
      for (;;) {
        const r = rrAt(cl.t, cl.phase);
        if (cl.t + r >= tEnd) break;
        cl.t += r;
        beats.push({ t: cl.t, r });
        data += String(cl.t).length + String(r).length + 2;
      }
      const { name, bytes } = encodeBatchFile(sealer, { pseudonym: cl.pseudonym, seq, tStartMs: tStart, tEndMs: tEnd, beats }, gw.enclaveKey);
      await gw.c.put(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), `inbox/${name}.part`);
      await gw.c.rename(`inbox/${name}.part`, `inbox/${name}`);
      st.files_sent++;
      st.bytes_sent += bytes.length;
      st.data_bytes += data;
      st.beats_sent += beats.length;
    };
    // A few uploads in flight on the one connection: the gateway's own loop awaits each file's round trips in turn,
    // which on a loaded host would make the generator, not the server, the limit. The operations are the gateway's.
    await inFlight(gw.clients, one);
  };

  /** Opens and verifies one result file as the gateway does, and times it from its batch's cut (first copy only). */
  const judge = (gw: G, name: string, bytes: Uint8Array): void => {
    const key = `${gw.g.id}/${name}`;
    try {
      const { header, text } = openResultFile({ gatewayId: gw.g.id, mode: cfg.mode, hpkePrivateKey: gw.hpke, epochs: gw.epochs }, bytes, gw.signers);
      if (!gw.known.has(header.patient)) throw new Error(`result for unknown pseudonym ${header.patient}`);
      const body = parseResultBody(text, header);
      if (!gw.seen.has(key)) {
        gw.seen.add(key);
        st.results_verified++;
        st.beats_in_results += body.rr.t_ms.length;
        const cut = cutAt.get(key);
        if (cut !== undefined) e2e.push(performance.now() - cut);
        cutAt.delete(key);
      }
    } catch (err) {
      st.results_rejected++;
      fail(err);
    }
  };

  const fetchResults = async (gw: G): Promise<void> => {
    // Loose result files of this run's patients (the pseudonym is in the name), and the host's result bundles (one per
    // gateway and micro-batch; entries of other runs' patients, from a `bench serve` kept between runs, are skipped).
    const listed = (await gw.c.list('outbox')).map((f) => f.name);
    const names = listed.filter((n) => gw.known.has(BUNDLED_RESULT_NAME.exec(n)?.[1] ?? '') || RESULT_BUNDLE_NAME.test(n));
    const one = async (name: string): Promise<void> => {
      const got = (await gw.c.get(`outbox/${name}`)) as Buffer;
      const bytes = new Uint8Array(got.buffer, got.byteOffset, got.length);
      if (!RESULT_BUNDLE_NAME.test(name)) judge(gw, name, bytes);
      else {
        const split = splitResultBundle(bytes);
        for (const e of split.entries) if (gw.known.has(BUNDLED_RESULT_NAME.exec(e.name)?.[1] ?? '')) judge(gw, e.name, e.bytes);
        if (split.fault !== undefined) fail(new Error(`result bundle ${name}: ${split.fault}`));
      }
      await gw.c.delete(`outbox/${name}`);
    };
    // As many fetches in flight as uploads: the gateway's one-at-a-time loop would put the generator's round trips into e2e.
    await inFlight(names, one);
  };

  let stopPolling = false;
  const pollMs = Math.min(500, Math.max(50, cfg.batchIntervalMs / 10));
  const pollers = gws.map(async (gw) => {
    while (!stopPolling) {
      await fetchResults(gw).catch(fail);
      await sleep(pollMs);
    }
  });

  const nBatches = Math.max(1, Math.round(cfg.durationMs / cfg.batchIntervalMs));
  const start = performance.now();
  for (let k = 1; k <= nBatches; k++) {
    const cut = start + k * cfg.batchIntervalMs;
    await sleep(cut - performance.now());
    for (const gw of gws) for (const cl of gw.clients) cutAt.set(`${gw.g.id}/${cl.pseudonym}-${k}.result`, cut);
    await Promise.all(gws.map((gw) => upload(gw, k).catch(fail)));
    const lag = performance.now() - cut;
    st.upload_lag_ms_max = Math.max(st.upload_lag_ms_max, lag);
    onProgress({ elapsed_s: (performance.now() - start) / 1000, files_sent: st.files_sent, results_verified: st.results_verified, upload_lag_ms: lag });
  }
  const loadMs = Math.max(cfg.durationMs, performance.now() - start);
  const deadline = performance.now() + cfg.drainMs;
  while (st.results_verified + st.results_rejected < st.files_sent && performance.now() < deadline) await sleep(pollMs);
  stopPolling = true;
  await Promise.all(pollers);
  await Promise.all(gws.map((gw) => gw.c.end().catch(() => undefined)));
  rmSync(epochDir, { recursive: true, force: true });
  const self = selfUsage();
  return { type: 'final', ...st, load_ms: loadMs, e2e_ms: e2e, first_error: firstError, self: { ...self, cpu_ms: self.cpu_ms - cpu0 }, wall_ms: performance.now() - t0 };
}

/** Attests the enclave as the gateway does: a nonce in the inbox, the quote from the outbox, verified against the pins. */
async function attest(c: SftpClient, cfg: GeneratorConfig): Promise<{ enclavePublicKey: Uint8Array; enclaveSigningKey: Uint8Array }> {
  if (!cfg.attestation) throw new Error('secure mode needs the attestation pins (platform key, measurement)');
  const nonce = randomBytes(32);
  const hex = nonce.toString('hex');
  await c.put(Buffer.from(hex), `inbox/attest-${hex}.req`);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await c.exists(`outbox/attest-${hex}.quote`)) === '-') {
      const body = (await c.get(`outbox/attest-${hex}.quote`)) as Buffer;
      await c.delete(`outbox/attest-${hex}.quote`).catch(() => undefined);
      return verifyQuoteDetails(JSON.parse(body.toString('utf8')), {
        platformPublicKey: Buffer.from(cfg.attestation.platformPublicKey, 'hex'),
        allowedMeasurements: [cfg.attestation.measurement],
        allowSoftwareQuotes: true,
        nonce,
      });
    }
    await sleep(50);
  }
  throw new Error('no attestation quote arrived in the outbox within 30 s');
}
