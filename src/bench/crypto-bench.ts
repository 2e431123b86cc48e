/**
 * Crypto micro-benchmark (`npm run bench -- --suite crypto`): what sealing costs per batch file — version 1 (HPKE and
 * Ed25519 per file) against version 2 (the epoch envelope: AES-256-GCM per file, HPKE and Ed25519 once per epoch) and
 * against raw AES-256-GCM on the same bytes, the floor — then HPKE on a 10-minute RR batch and the X25519 key steps, beside the alternatives weighed in
 * docs/decisions.md ("Raw X25519/Ed25519 keys without the Node 20 deadlock"). Figures are CPU time per call
 * (process.cpuUsage), which a shared, loaded machine disturbs far less than wall time; the median of a few
 * repeats is reported. The old KeyObject + JWK-export path is deliberately absent: it can hang (issue 9).
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import {
  createEpoch,
  ephemeralX25519,
  generateHpkeKeyPair,
  generateSigningKeyPair,
  keyIdOf,
  openEnvelope,
  openEpochEnvelope,
  parseEpochEnvelope,
  sealEnvelope,
  sealEpochEnvelope,
  unlockEpochBlock,
  type EnvelopeHeader,
  generateRawKeyPair,
  hpkeOpen,
  hpkeSeal,
  importRawPrivateKey,
  importRawPublicKey,
  rawPublicKeyOf,
  x25519,
} from '../crypto/index.js';
import { EpochCache } from '../enclave/index.js';
import { rrCsv } from '../test-support/sealed-batches.js';

export interface CryptoBenchRow {
  name: string;
  /** Median over the repeats of the mean CPU time of one call, µs. */
  cpu_us: number;
  /** Calls per repeat. */
  calls: number;
}

export interface CryptoBenchResult {
  node: string;
  cpus: number;
  load1: number;
  batch_bytes: number;
  /** Plaintext body (bytes, padded) of the per-file cases: a 10-s batch in its size bucket. */
  file_body_bytes: number;
  rows: CryptoBenchRow[];
  /** Per-file cost over raw AES-256-GCM on the same bytes (the target: at most 2). */
  ratios: { v2_seal: number; v2_seal_open: number; v1_seal_open: number };
}

const REPEATS = 5;
/** Body size of the per-file cases (bytes): a 10-s batch and its header fit well inside the 2-KiB bucket. */
const FILE_BODY = 2048;

/** Raw AES-256-GCM on `body` with a random nonce and `aad`: the floor any per-file sealing is measured against. */
function rawGcm(key: KeyObject, aad: Uint8Array, body: Uint8Array): { nonce: Buffer; ct: Buffer; tag: Buffer } {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(body), c.final()]);
  return { nonce, ct, tag: c.getAuthTag() };
}

function rawGcmOpen(key: KeyObject, aad: Uint8Array, s: { nonce: Buffer; ct: Buffer; tag: Buffer }): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, s.nonce, { authTagLength: 16 });
  d.setAAD(aad);
  d.setAuthTag(s.tag);
  return Buffer.concat([d.update(s.ct), d.final()]);
}

function cpuPerCall(calls: number, fn: () => void): number {
  const c = process.cpuUsage();
  for (let i = 0; i < calls; i++) fn();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / calls;
}

function measure(name: string, calls: number, fn: () => void, log: (line: string) => void): CryptoBenchRow {
  cpuPerCall(Math.min(200, calls), fn); // warm-up: JIT and OpenSSL's method caches
  const runs = Array.from({ length: REPEATS }, () => cpuPerCall(calls, fn)).sort((a, b) => a - b);
  const row = { name, cpu_us: Math.round(runs[Math.floor(REPEATS / 2)]! * 10) / 10, calls };
  log(`${name}: ${row.cpu_us} µs`);
  return row;
}

/** Runs the suite; `scale` multiplies the call counts (1 = about 20 s of CPU). */
export function runCryptoBench(log: (line: string) => void, scale = 1): CryptoBenchResult {
  const n = (k: number): number => Math.max(20, Math.round(k * scale));
  const recipient = generateHpkeKeyPair();
  const batch = new TextEncoder().encode(rrCsv(0, 600_000, 75).csv);
  const info = new TextEncoder().encode('hrvault bench');
  const aad = new TextEncoder().encode('header');
  const sealed = hpkeSeal(recipient.publicKey, info, aad, batch);
  const peer = generateRawKeyPair('x25519');
  const peerKey: KeyObject = importRawPublicKey('x25519', peer.publicKey);
  const ownKey = importRawPrivateKey('x25519', generateRawKeyPair('x25519').privateKey);
  const spkiPeer = Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), peer.publicKey]);
  const pkcs8Own = ownKey.export({ format: 'der', type: 'pkcs8' });
  // Per file, as the pipeline does it: a 10-s batch (~12 beats) padded to a 2-KiB body, header and all.
  const gw = generateSigningKeyPair();
  const fileCsv = new TextEncoder().encode(rrCsv(0, 10_000, 75).csv);
  const header: EnvelopeHeader = { v: 1, kind: 'rr-batch', gateway: 'gw-1', patient: 'a'.repeat(32), seq: 1234, t_start_ms: 1.8e12, t_end_ms: 1.8e12 + 10_000, key_id: keyIdOf(recipient.publicKey) };
  const pad = { padTo: () => FILE_BODY };
  const epochParams = { secret: randomBytes(32), gateway: 'gw-1', createdMs: Date.now(), enclavePublicKey: recipient.publicKey, enclaveKeyId: header.key_id, signingPrivateKey: gw.privateKey };
  const epoch = createEpoch({ id: randomBytes(16), ...epochParams });
  const cache = new EpochCache();
  const enclaveKeys = (p: Parameters<EpochCache['keysFor']>[0]) => cache.keysFor(p, recipient.privateKey, gw.publicKey);
  const v2File = sealEpochEnvelope(epoch, header, fileCsv, pad);
  const rawKey = createSecretKey(randomBytes(32));
  const rawBody = randomBytes(FILE_BODY);
  const rawAad = parseEpochEnvelope(v2File).aad;
  const perFile = [
    measure(`per file, raw AES-256-GCM seal + open, ${FILE_BODY}-byte body`, n(20_000), () => rawGcmOpen(rawKey, rawAad, rawGcm(rawKey, rawAad, rawBody)), log),
    measure(`per file, raw AES-256-GCM seal, ${FILE_BODY}-byte body`, n(20_000), () => rawGcm(rawKey, rawAad, rawBody), log),
    measure('per file, v2 epoch envelope seal + open (epoch cached)', n(20_000), () => openEpochEnvelope(sealEpochEnvelope(epoch, header, fileCsv, pad), enclaveKeys), log),
    measure('per file, v2 epoch envelope seal', n(20_000), () => sealEpochEnvelope(epoch, header, fileCsv, pad), log),
    measure('per file, v2 epoch envelope open (epoch cached)', n(20_000), () => openEpochEnvelope(v2File, enclaveKeys), log),
    measure('per file, v1 envelope seal + open (HPKE + Ed25519 per file)', n(2000), () => openEnvelope(recipient.privateKey, sealEnvelope(recipient.publicKey, header, fileCsv, gw.privateKey, pad), { senderKey: () => gw.publicKey }), log),
    measure('per epoch, v2 gateway: HPKE seal + Ed25519 sign of the epoch block', n(2000), () => createEpoch({ id: randomBytes(16), ...epochParams }), log),
    measure('per epoch, v2 enclave: Ed25519 verify + HPKE open of the epoch block', n(2000), () => unlockEpochBlock(parseEpochEnvelope(v2File).block, recipient.privateKey, gw.publicKey), log),
  ];
  const cpu = (i: number): number => perFile[i]!.cpu_us;
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  const rows = [
    ...perFile,
    measure('hpke seal + open, one 10-min batch file', n(2000), () => {
      const s = hpkeSeal(recipient.publicKey, info, aad, batch);
      hpkeOpen(recipient.privateKey, s.enc, info, aad, s.ciphertext);
    }, log),
    measure('hpke seal, one batch file', n(2000), () => hpkeSeal(recipient.publicKey, info, aad, batch), log),
    measure('hpke open, one batch file', n(2000), () => hpkeOpen(recipient.privateKey, sealed.enc, info, aad, sealed.ciphertext), log),
    measure('ephemeral X25519 (job-encoded public, KeyObject private)', n(2000), () => ephemeralX25519(), log),
    measure('  alternative: KeyObjects only (no public bytes)', n(2000), () => generateKeyPairSync('x25519'), log),
    measure('  alternative: both halves DER-encoded by the job', n(1000), () => generateRawKeyPair('x25519'), log),
    measure('X25519 agreement (cached KeyObjects)', n(2000), () => x25519(ownKey, peerKey), log),
    measure('import peer public key, raw via JWK', n(4000), () => importRawPublicKey('x25519', peer.publicKey), log),
    measure('  alternative: import peer public key, DER SPKI', n(1000), () => createPublicKey({ key: spkiPeer, format: 'der', type: 'spki' }), log),
    measure('import private key, DER PKCS#8 (long-lived keys, cached)', n(500), () => createPrivateKey({ key: pkcs8Own, format: 'der', type: 'pkcs8' }), log),
    measure('public bytes of a private key, DER export (cached)', n(1000), () => rawPublicKeyOf(ownKey), log),
  ];
  return {
    node: process.version,
    cpus: cpus().length,
    load1: Math.round(loadavg()[0]! * 10) / 10,
    batch_bytes: batch.length,
    file_body_bytes: FILE_BODY,
    rows,
    ratios: { v2_seal: ratio(cpu(3), cpu(1)), v2_seal_open: ratio(cpu(2), cpu(0)), v1_seal_open: ratio(cpu(5), cpu(0)) },
  };
}

/** The suite's table: one row per case, CPU µs per call. */
export function formatCryptoBench(r: CryptoBenchResult): string {
  const width = Math.max(...r.rows.map((row) => row.name.length));
  const lines = [
    `crypto bench: node ${r.node}, ${r.cpus} CPUs, load ${r.load1}, batch file ${r.batch_bytes} bytes; CPU µs per call (median of ${REPEATS})`,
    ...r.rows.map((row) => `${row.name.padEnd(width)}  ${row.cpu_us.toFixed(1).padStart(8)}`),
    `per file over raw AES-256-GCM on the same ${r.file_body_bytes}-byte body: v2 seal ${r.ratios.v2_seal}×, v2 seal + open ${r.ratios.v2_seal_open}×, v1 seal + open ${r.ratios.v1_seal_open}×`,
  ];
  return lines.join('\n');
}
