/**
 * The host's grouped result write: one bundle per gateway per micro-batch, written with one fdatasync and one
 * directory fsync per gateway, holding exactly that batch's results for the gateway.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePlainFile, encodePlainFile, generateSshKeyPair } from '../crypto/index.js';
import { durableSyncCounts } from '../durable-file.js';
import type { HrvResult } from '../enclave/index.js';
import { rrCsv } from '../test-support/sealed-batches.js';
import { outboxBundles, readOutboxResults, startCloud } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'cloud-bundle-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ssh = generateSshKeyPair();

function plainFile(gateway: string, patient: string, seq: number): Uint8Array {
  const csv = rrCsv(seq * 10_000, (seq + 1) * 10_000, 60 + seq).csv;
  return encodePlainFile({ v: 1, kind: 'rr-batch', gateway, patient, seq, t_start_ms: seq * 10_000, t_end_ms: (seq + 1) * 10_000, key_id: 'plain' }, Buffer.from(csv));
}

async function uploadAll(port: number, gateway: string, files: { name: string; bytes: Uint8Array }[]): Promise<void> {
  const c = new SftpClient();
  await c.connect({ host: '127.0.0.1', port, username: gateway, privateKey: ssh.private, readyTimeout: 10_000 });
  try {
    for (const f of files) {
      await c.put(Buffer.from(f.bytes), `inbox/${f.name}.part`);
      await c.rename(`inbox/${f.name}.part`, `inbox/${f.name}`);
    }
  } finally {
    await c.end();
  }
}

describe('grouped result write', () => {
  it('a micro-batch of N results does one fdatasync and one directory fsync per gateway, into one bundle each, and one manifest for its inputs', async () => {
    const d = join(root, 'two-gateways');
    const host = await startCloud({ dataDir: d, gateways: [{ id: 'gw-a', sshPublicKey: ssh.public }, { id: 'gw-b', sshPublicKey: ssh.public }], batchIntervalMs: 3_600_000, mode: 'plain' });
    try {
      const counts = { 'gw-a': 12, 'gw-b': 7 } as const;
      for (const [gw, n] of Object.entries(counts)) {
        await uploadAll(host.port, gw, Array.from({ length: n }, (_, i) => ({ name: `p${i}-0.hrvp`, bytes: plainFile(gw, `p${i}`, 0) })));
      }
      const before = durableSyncCounts();
      const rec = await host.flush();
      const after = durableSyncCounts();
      expect(rec).toMatchObject({ files: 19, accepted: 19, rejected: 0 });
      // Per gateway: the bundle's fdatasync and the outbox directory's fsync; per micro-batch: the done manifest's
      // fdatasync and its directory's fsync; after it, filing the inputs: the inbox and the store directory of each
      // gateway once. Nothing per result or per input.
      expect({ file: after.file - before.file, dir: after.dir - before.dir }).toEqual({ file: 2 + 1, dir: 2 + 1 + 2 * 2 });
      expect(rec.phases_ms.background).toBeGreaterThan(0);
      for (const [gw, n] of Object.entries(counts)) {
        const outbox = join(d, 'gateways', gw, 'outbox');
        expect(outboxBundles(outbox)).toHaveLength(1);
        expect(readdirSync(outbox).filter((f) => !outboxBundles(outbox).includes(f))).toEqual([]);
        const results = readOutboxResults(outbox);
        expect([...results.keys()].sort()).toEqual(Array.from({ length: n }, (_, i) => `p${i}-0.result`).sort());
        for (const [name, bytes] of results) {
          const { header, body } = decodePlainFile(bytes);
          expect([header.kind, header.gateway, `${header.patient}-${header.seq}.result`]).toEqual(['hrv-result', gw, name]);
          expect((JSON.parse(Buffer.from(body).toString('utf8')) as HrvResult).seq).toBe(0);
        }
        expect(readdirSync(join(d, 'gateways', gw, 'inbox'))).toEqual([]);
      }
      // An empty micro-batch writes nothing.
      const idle = durableSyncCounts();
      expect(await host.flush()).toMatchObject({ files: 0 });
      expect(durableSyncCounts()).toEqual(idle);
    } finally {
      await host.stop();
    }
  });
});
