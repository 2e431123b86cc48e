/**
 * Inputs filed away after a micro-batch, from one durable done manifest: a host that stops between the manifest and
 * the filing finishes it at its next start, without analysing those inputs again and without writing their results
 * a second time.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encodePlainFile, generateSshKeyPair } from '../crypto/index.js';
import { armFailpoints } from '../failpoints/index.js';
import { rrCsv } from '../test-support/sealed-batches.js';
import { areaDir, outboxBundles, readOutboxResults, startCloud } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'cloud-filing-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => armFailpoints(''));
const ssh = generateSshKeyPair();

function plainFile(patient: string, seq: number): Uint8Array {
  return encodePlainFile({ v: 1, kind: 'rr-batch', gateway: 'gw-1', patient, seq, t_start_ms: seq * 10_000, t_end_ms: (seq + 1) * 10_000, key_id: 'plain' }, Buffer.from(rrCsv(seq * 10_000, (seq + 1) * 10_000, 70).csv));
}

const options = (d: string): Parameters<typeof startCloud>[0] => ({ dataDir: d, gateways: [{ id: 'gw-1', sshPublicKey: ssh.public }], batchIntervalMs: 3_600_000, mode: 'plain' });

describe('filing inputs from a done manifest', () => {
  it('an error after the manifest is durable: the next host files the inputs at start, no micro-batch sees them again', async () => {
    const d = join(root, 'after-inputs-done');
    const inbox = areaDir(d, 'gw-1', 'inbox');
    const first = await startCloud(options(d));
    try {
      for (let i = 0; i < 5; i++) writeFileSync(join(inbox, `p${i}-0.hrvp`), plainFile(`p${i}`, 0));
      writeFileSync(join(inbox, 'bad-0.hrvp'), Buffer.from('not a plain file'));
      armFailpoints('cloud.after-inputs-done=error');
      await expect(first.flush()).rejects.toThrow(/cloud.after-inputs-done/);
    } finally {
      armFailpoints('');
      await first.stop();
    }
    // Results durable, manifest durable, inputs still in the inbox.
    const outbox = areaDir(d, 'gw-1', 'outbox');
    expect(outboxBundles(outbox)).toHaveLength(1);
    expect(readdirSync(inbox)).toHaveLength(6);
    expect(readdirSync(join(d, 'filing')).filter((n) => n.endsWith('.json'))).toHaveLength(1);

    const second = await startCloud(options(d));
    try {
      // Filed at start-up: the good ones to the store, the bad one to quarantine with its reason; the manifest gone.
      expect(readdirSync(inbox)).toEqual([]);
      expect(readdirSync(join(d, 'store', 'gw-1')).sort()).toEqual(['p0-0.hrvp', 'p1-0.hrvp', 'p2-0.hrvp', 'p3-0.hrvp', 'p4-0.hrvp']);
      const reason = readdirSync(join(d, 'quarantine', 'gw-1')).find((n) => n.endsWith('.reason.json'))!;
      expect(JSON.parse(readFileSync(join(d, 'quarantine', 'gw-1', reason), 'utf8'))).toMatchObject({ name: 'bad-0.hrvp', code: expect.stringMatching(/^HRV_ERR_/) });
      expect(readdirSync(join(d, 'filing'))).toEqual([]);
      expect(await second.flush()).toMatchObject({ files: 0, accepted: 0, duplicates: 0 });
      expect(outboxBundles(outbox)).toHaveLength(1);
      expect([...readOutboxResults(outbox).keys()].sort()).toEqual(['p0-0.result', 'p1-0.result', 'p2-0.result', 'p3-0.result', 'p4-0.result']);
    } finally {
      await second.stop();
    }
  });

  it('an input replaced under its name after the manifest (other bytes) is not filed unseen: it goes through a micro-batch', async () => {
    const d = join(root, 'changed');
    const inbox = areaDir(d, 'gw-1', 'inbox');
    const first = await startCloud(options(d));
    try {
      writeFileSync(join(inbox, 'p0-0.hrvp'), plainFile('p0', 0));
      armFailpoints('cloud.after-inputs-done=error');
      await expect(first.flush()).rejects.toThrow(/cloud.after-inputs-done/);
    } finally {
      armFailpoints('');
      await first.stop();
    }
    writeFileSync(join(inbox, 'p0-0.hrvp'), plainFile('p0', 1));
    const second = await startCloud(options(d));
    try {
      expect(readdirSync(inbox)).toEqual(['p0-0.hrvp']);
      expect(existsSync(join(d, 'store', 'gw-1', 'p0-0.hrvp'))).toBe(false);
      // A new host in plain mode has no memory of p0: seq 1 is analysed as the stream's first file.
      expect(await second.flush()).toMatchObject({ files: 1, accepted: 1 });
      expect(readdirSync(inbox)).toEqual([]);
    } finally {
      await second.stop();
    }
  });

  it('an unreadable manifest is moved aside with its reason; its inputs go through a micro-batch', async () => {
    const d = join(root, 'bad-manifest');
    const logs: string[] = [];
    const first = await startCloud(options(d));
    await first.stop();
    writeFileSync(join(d, 'filing', 'done-1-0123456789abcdef.json'), '{"v":1,"inputs":[{"gateway":"../x"}]}');
    const second = await startCloud({ ...options(d), log: (_l, msg, f) => logs.push(`${msg} ${JSON.stringify(f)}`) });
    await second.stop();
    expect(readdirSync(join(d, 'filing'))).toEqual(['done-1-0123456789abcdef.json.bad']);
    expect(logs.find((l) => l.startsWith('done manifest unreadable'))).toMatch(/inputs\.0\.gateway/);
  });
});
