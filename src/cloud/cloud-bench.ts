/**
 * Host-side benchmark: N patient files per micro-batch uploaded over SFTP (temp name, rename) and processed
 * by the cloud, secure (enclave process) against plain (in-host), same data.
 * Run: node --import tsx src/cloud/cloud-bench.ts [patients=100] [batches=8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { encodePlainFile, generateHpkeKeyPair, generateSshKeyPair, generateSigningKeyPair, sealEnvelope } from '../crypto/index.js';
import { spawnEnclave, type EnclaveClient } from '../enclave/index.js';
import { startCloud } from './index.js';

const patients = Number(process.argv[2] ?? 100);
const batches = Number(process.argv[3] ?? 8);
const ssh = generateSshKeyPair();
const gwSign = generateSigningKeyPair();
const gwHpke = generateHpkeKeyPair();

function csvFor(t0: number, bpm: number): Uint8Array {
  const lines = ['time_ms,rr_ms'];
  let t = t0;
  for (;;) {
    const rr = Math.round(60_000 / bpm + 25 * Math.sin(t / 700));
    if (t + rr >= t0 + 10_000) break;
    t += rr;
    lines.push(`${t},${rr}`);
  }
  return new TextEncoder().encode(lines.join('\n') + '\n');
}

const phaseSum: Record<string, Record<string, number>> = {};

async function run(mode: 'secure' | 'plain'): Promise<{ upload: number[]; batch: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), `cloud-bench-${mode}-`));
  let enclave: EnclaveClient | undefined;
  if (mode === 'secure') {
    enclave = await spawnEnclave({
      dataDir: join(dir, 'enclave'),
      platformKeyFile: join(dir, 'platform.key'),
      enrolledGateways: [{ id: 'gw1', signingPublicKey: gwSign.publicKey, hpkePublicKey: gwHpke.publicKey }],
      // A large micro-batch on a loaded machine can take longer than the production watchdog allows; here a slow
      // batch must be measured, not killed and retried.
      callTimeoutMs: 600_000,
    });
  }
  const cloud = await startCloud({ dataDir: join(dir, 'cloud'), gateways: [{ id: 'gw1', sshPublicKey: ssh.public }], batchIntervalMs: 3_600_000, mode, enclave });
  const c = new SftpClient();
  const upload: number[] = [];
  const batch: number[] = [];
  try {
    await c.connect({ host: '127.0.0.1', port: cloud.port, username: 'gw1', privateKey: ssh.private });
    for (let b = 0; b < batches; b++) {
      const t0 = b * 10_000;
      const started = performance.now();
      for (let p = 0; p < patients; p++) {
        const header = { v: 1 as const, kind: 'rr-batch' as const, gateway: 'gw1', patient: `p${p}`, seq: b, t_start_ms: t0, t_end_ms: t0 + 10_000 };
        const csv = csvFor(t0, 55 + (p % 70));
        const bytes = enclave ? sealEnvelope(enclave.publicKey, { ...header, key_id: enclave.keyId }, csv, gwSign.privateKey) : encodePlainFile({ ...header, key_id: 'plain' }, csv);
        await c.put(Buffer.from(bytes), `inbox/p${p}-${b}.f.part`);
        await c.rename(`inbox/p${p}-${b}.f.part`, `inbox/p${p}-${b}.f`);
      }
      upload.push(performance.now() - started);
      const rec = await cloud.flush();
      if (rec.rejected > 0) throw new Error(`${mode}: ${rec.rejected} files rejected: ${cloud.stats().rejected_files[0]?.reason}`);
      if (rec.failed > 0 || rec.files !== patients) throw new Error(`${mode}: batch ${b} processed ${rec.files} of ${patients} files (${rec.failed} failed)`);
      batch.push(rec.ms);
      if (b >= 2) for (const [k, v] of Object.entries(rec.phases_ms)) (phaseSum[mode] ??= {})[k] = (phaseSum[mode]?.[k] ?? 0) + v / (batches - 2);
    }
  } finally {
    await c.end();
    await cloud.stop();
    await enclave?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { upload, batch };
}

const mean = (a: number[]): number => a.slice(2).reduce((x, y) => x + y, 0) / Math.max(1, a.length - 2);
const secure = await run('secure');
const plain = await run('plain');
console.log(`${patients} files per micro-batch, ${batches} batches (first 2 dropped as warm-up):`);
for (const [name, r] of [['secure', secure], ['plain', plain]] as const) {
  console.log(`  ${name.padEnd(6)}: upload (seal + SFTP) ${mean(r.upload).toFixed(0)} ms, micro-batch processing ${mean(r.batch).toFixed(1)} ms`);
  const ph = phaseSum[name] ?? {};
  console.log(`          host steps (mean ms per batch; µs per file): ${Object.entries(ph).map(([k, v]) => `${k} ${v.toFixed(1)} (${((v * 1000) / patients).toFixed(0)})`).join(', ')}`);
}
const total = (r: { upload: number[]; batch: number[] }): number => mean(r.upload) + mean(r.batch);
console.log(`  micro-batch processing overhead: ${(((mean(secure.batch) - mean(plain.batch)) / mean(plain.batch)) * 100).toFixed(0)} %`);
console.log(`  upload + processing overhead:    ${(((total(secure) - total(plain)) / total(plain)) * 100).toFixed(0)} %`);
