/**
 * Cloud-side micro-benchmarks: HPKE and envelope seal+open throughput, and one micro-batch of N patient
 * files through the enclave process (secure) against the same files analysed in-host (plain).
 * Run: node --import tsx src/enclave/pipeline-bench.ts [patients=100] [batches=12]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { encodePlainFile, decodePlainFile, generateHpkeKeyPair, hpkeOpen, hpkeSeal, openEnvelope, sealEnvelope, keyIdOf } from '../crypto/index.js';
import { HrvAnalyser } from './analysis.js';
import { spawnEnclave } from './client.js';
import { makeGateway, rrCsv } from '../test-support/sealed-batches.js';

const patients = Number(process.argv[2] ?? 100);
const batches = Number(process.argv[3] ?? 12);

function rate(label: string, n: number, fn: () => void): void {
  for (let i = 0; i < Math.min(200, n); i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  const ms = performance.now() - t0;
  console.log(`${label}: ${Math.round((n * 1000) / ms)} /s (${((ms * 1000) / n).toFixed(1)} µs each)`);
}

const kp = generateHpkeKeyPair();
const gw = makeGateway('gw-1');
const body = new TextEncoder().encode(rrCsv(0, 10_000, 75).csv);
const info = new TextEncoder().encode('bench');
rate('hpke seal+open (node:crypto, 1 batch CSV)', 5000, () => {
  const { enc, ciphertext } = hpkeSeal(kp.publicKey, info, info, body);
  hpkeOpen(kp.privateKey, enc, info, info, ciphertext);
});
const header = { v: 1 as const, kind: 'rr-batch' as const, gateway: 'gw-1', patient: 'p', seq: 1, t_start_ms: 0, t_end_ms: 10_000, key_id: keyIdOf(kp.publicKey) };
rate('envelope seal+open, signed + verified', 5000, () => {
  const b = sealEnvelope(kp.publicKey, header, body, gw.signing.privateKey);
  openEnvelope(kp.privateKey, b, { senderKey: () => gw.signing.publicKey });
});
rate('plain file encode+decode (baseline)', 5000, () => {
  decodePlainFile(encodePlainFile(header, body));
});
{
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
  const pk = await suite.kem.deserializePublicKey(kp.publicKey.slice().buffer);
  const sk = await suite.kem.deserializePrivateKey(kp.privateKey.slice().buffer);
  const n = 300;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = await suite.seal({ recipientPublicKey: pk, info }, body, info);
    await suite.open({ recipientKey: sk, enc: s.enc, info }, s.ct, info);
  }
  const ms = performance.now() - t0;
  console.log(`hpke seal+open (@hpke/core, for comparison): ${Math.round((n * 1000) / ms)} /s`);
}

const dir = mkdtempSync(join(tmpdir(), 'pipeline-bench-'));
const enclave = await spawnEnclave({
  dataDir: join(dir, 'enclave'),
  platformKeyFile: join(dir, 'platform.key'),
  enrolledGateways: [{ id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey }],
});
const plain = new HrvAnalyser();
const secureMs: number[] = [];
const plainMs: number[] = [];
let beats = 0;
try {
  for (let b = 0; b < batches; b++) {
    const t0 = b * 10_000;
    const csvs = Array.from({ length: patients }, (_, p) => rrCsv(t0, t0 + 10_000, 60 + (p % 60)));
    const hdr = (p: number) => ({ v: 1 as const, kind: 'rr-batch' as const, gateway: 'gw-1', patient: `p${p}`, seq: b, t_start_ms: t0, t_end_ms: t0 + 10_000 });
    const sealed = csvs.map((c, p) => ({ name: `p${p}-${b}.rrb`, bytes: sealEnvelope(enclave.publicKey, { ...hdr(p), key_id: enclave.keyId }, new TextEncoder().encode(c.csv), gw.signing.privateKey) }));
    const plainFiles = csvs.map((c, p) => encodePlainFile({ ...hdr(p), key_id: 'plain' }, new TextEncoder().encode(c.csv)));
    let s = performance.now();
    const out = await enclave.processBatch(sealed);
    secureMs.push(performance.now() - s);
    if (out.rejected.length > 0) throw new Error(`bench batch rejected files: ${out.rejected[0]!.reason}`);
    // The enclave reports no beat counts to the host (they depend on the patients' data): the bench made the files.
    beats += csvs.reduce((a, c) => a + c.beats, 0);
    s = performance.now();
    for (const f of plainFiles) {
      const d = decodePlainFile(f);
      const a = plain.analyse(d.header, Buffer.from(d.body).toString('utf8'), 'x');
      encodePlainFile({ ...d.header, kind: 'hrv-result' }, Buffer.from(JSON.stringify(a.result)));
    }
    plainMs.push(performance.now() - s);
  }
} finally {
  await enclave.close();
  rmSync(dir, { recursive: true, force: true });
}
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
// The first batches warm up the JIT in both processes; report the rest.
const skip = Math.min(2, batches - 1);
const sec = mean(secureMs.slice(skip));
const pln = mean(plainMs.slice(skip));
console.log(`micro-batch of ${patients} files (${beats} beats over ${batches} batches, windows growing to ${batches * 10} s):`);
console.log(`  secure (host→enclave process→host, incl. IPC and sealed state write): ${sec.toFixed(1)} ms`);
console.log(`  plain (in-host analysis):                                             ${pln.toFixed(1)} ms`);
console.log(`  secure overhead: ${(((sec - pln) / pln) * 100).toFixed(1)} %`);
