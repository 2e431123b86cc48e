/**
 * Crypto micro-benchmark (`npm run bench -- --suite crypto`): what one sealed batch file costs (HPKE seal and
 * open of a 10-minute RR batch) and the X25519 key steps it is made of, beside the alternatives weighed in
 * docs/decisions.md ("Raw X25519/Ed25519 keys without the Node 20 deadlock"). Figures are CPU time per call
 * (process.cpuUsage), which a shared, loaded machine disturbs far less than wall time; the median of a few
 * repeats is reported. The old KeyObject + JWK-export path is deliberately absent: it can hang (issue 9).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import {
  ephemeralX25519,
  generateHpkeKeyPair,
  generateRawKeyPair,
  hpkeOpen,
  hpkeSeal,
  importRawPrivateKey,
  importRawPublicKey,
  rawPublicKeyOf,
  x25519,
} from '../crypto/index.js';
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
  rows: CryptoBenchRow[];
}

const REPEATS = 5;

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
  const rows = [
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
  return { node: process.version, cpus: cpus().length, load1: Math.round(loadavg()[0]! * 10) / 10, batch_bytes: batch.length, rows };
}

/** The suite's table: one row per case, CPU µs per call. */
export function formatCryptoBench(r: CryptoBenchResult): string {
  const width = Math.max(...r.rows.map((row) => row.name.length));
  const lines = [
    `crypto bench: node ${r.node}, ${r.cpus} CPUs, load ${r.load1}, batch file ${r.batch_bytes} bytes; CPU µs per call (median of ${REPEATS})`,
    ...r.rows.map((row) => `${row.name.padEnd(width)}  ${row.cpu_us.toFixed(1).padStart(8)}`),
  ];
  return lines.join('\n');
}
