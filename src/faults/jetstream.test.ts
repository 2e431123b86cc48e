import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { partitionOf, pseudonymise } from '../crypto/index.js';
import type { CliProcess } from '../test-support/processes.js';
import {
  gatewayResultRepeats,
  heldPartitions,
  highestTokens,
  leaseLost,
  partitionEvents,
  takenOver,
} from './jetstream.js';
import { scanHost } from './plaintext.js';
import { coveringPseudonymKey } from './stack.js';

const line = (o: Record<string, unknown>): string => JSON.stringify({ level: 30, time: 1, ...o });
/** A stand-in with only the log text the helpers read. */
const proc = (stderr: string): CliProcess => ({ stderr: () => stderr }) as unknown as CliProcess;

describe('faults/jetstream: worker partition events from the log', () => {
  const w0 = [
    line({ msg: 'worker running', worker: 'w0' }),
    line({ msg: 'partition taken', worker: 'w0', partition: 0, token: 4 }),
    line({ msg: 'partition taken', worker: 'w0', partition: 3, token: '9007199254740993' }),
    'enclave child says something that is not JSON',
    line({ msg: 'partition taken', worker: 'w0', partition: 5, token: 7 }),
    line({ msg: 'partition given up for balance', worker: 'w0', partition: 5 }),
    line({ msg: 'partition taken', worker: 'w0', partition: 6, token: 8 }),
    line({ msg: 'partition taken', worker: 'w0', partition: 7, token: 9 }),
    line({ msg: 'partitions given up for balance', worker: 'w0', partitions: [6, 7], share: 2 }),
    '{"level":30,"msg":"partition tak', // cut by a SIGKILL
  ].join('\n');

  it('reads taken partitions with their tokens (numbers and big decimal strings), and what is held now', () => {
    expect(
      partitionEvents(w0)
        .filter((e) => e.kind === 'taken')
        .map((e) => e.kind === 'taken' && e.token),
    ).toEqual([4n, 9007199254740993n, 7n, 8n, 9n]);
    expect(heldPartitions(w0)).toEqual([0, 3]);
  });

  it('sees a takeover only with a higher token, and a lost lease only when the error names the lease', () => {
    const before = new Map([
      [0, 4n],
      [3, 9007199254740993n],
    ]);
    const w1 = proc(
      [
        line({ msg: 'partition taken', partition: 0, token: 4 }),
        line({ msg: 'partition taken', partition: 3, token: '9007199254740994' }),
      ].join('\n'),
    );
    expect(takenOver(before, [w1])).toEqual([3]);
    expect(highestTokens([proc(w0), w1]).get(3)).toBe(9007199254740994n);
    const late = [
      w0,
      line({
        level: 40,
        msg: 'partition lost',
        partition: 0,
        error: 'HrvaultError: HRV_ERR_LEASE_LOST: revision moved on',
      }),
      line({ level: 50, msg: 'partition failed', partition: 3, error: 'ENOSPC' }),
    ].join('\n');
    expect(leaseLost(late, [0, 3])).toEqual([0]);
    expect(heldPartitions(late)).toEqual([]);
  });

  it('counts what the gateway said about results it was handed twice', () => {
    const gw = proc(
      [
        line({ level: 40, msg: 'result replayed (already kept); not passed on' }),
        line({ level: 50, msg: 'enclave state rollback detected: result refused' }),
        line({ level: 40, msg: 'result rejected' }),
        line({ msg: 'result kept for the CSP' }),
      ].join('\n'),
    );
    expect(gatewayResultRepeats([gw])).toEqual({ replayed: 1, refusedAsRollback: 1, rejected: 1 });
  });
});

describe('faults/stack: a pseudonym key that puts work in every partition', () => {
  it('covers every partition, is the same for the same seed and differs for another', () => {
    const ids = Array.from({ length: 8 }, (_, i) => `P${String(i + 1).padStart(4, '0')}`);
    const a = coveringPseudonymKey('gw1', ids, 6, 8);
    expect(new Set(a.partitionOf.values()).size).toBe(6);
    for (const [p, part] of a.partitionOf) expect(part).toBe(partitionOf(`gw1/${pseudonymise(p, a.key)}`, 6));
    expect(coveringPseudonymKey('gw1', ids, 6, 8).key.equals(a.key)).toBe(true);
    expect(coveringPseudonymKey('gw1', ids, 6, 9).key.equals(a.key)).toBe(false);
    // Fewer patients than partitions: as many partitions as patients.
    expect(new Set(coveringPseudonymKey('gw1', ids.slice(0, 2), 6, 8).partitionOf.values()).size).toBe(2);
  });
});

describe('faults/plaintext: I2 over every untrusted directory and every worker log', () => {
  it('finds the run’s plaintext in a NATS store directory and in a worker’s log, not only in the host’s', () => {
    const root = mkdtempSync(join(tmpdir(), 'hrv-faults-i2-'));
    try {
      const [host, store] = [join(root, 'cloud'), join(root, 'n0', 'store')];
      mkdirSync(host, { recursive: true });
      mkdirSync(join(store, 'jetstream'), { recursive: true });
      writeFileSync(join(host, 'sealed.bin'), 'nothing readable');
      writeFileSync(join(store, 'jetstream', '1.blk'), 'header 1767225600812,812 trailer');
      // A stream snapshot's removed sequence numbers (JSON) hold every counting run, RR-like or not: not a finding.
      writeFileSync(
        join(store, 'jetstream', 'snap.1.9'),
        '{"first_seq":342,"deleted":[819,820,821,822,823,926,929,930]}',
      );
      const beats = [812, 820, 821, 822, 815, 818, 926, 929, 930].map((rrMs, i) => ({
        seq: i + 1,
        tMs: 1767225600812 + i * 900,
        rrMs,
      }));
      const expected = new Map([['P0001', beats]]);
      const run = (
        name: string,
        stderr: string,
      ): { name: string; proc: { stdout(): string; stderr(): string } } => ({
        name,
        proc: { stdout: () => '', stderr: () => stderr },
      });
      const stack = {
        cloudDir: host,
        untrustedDirs: () => [host],
        natsStoreDirs: () => [store],
        runs: [run('worker1', 'patient P0001 analysed'), run('gateway', 'P0001 is fine here')],
        expected: () => expected,
      };
      const findings = scanHost(stack, 60);
      expect(findings.some((f) => f.includes('1.blk') && f.includes('CSV line'))).toBe(true);
      expect(findings.some((f) => f.startsWith('worker1 run 0 log') && f.includes('patient id'))).toBe(true);
      expect(findings.some((f) => f.includes('snap.1.9'))).toBe(false);
      // The same counting run in the host's directory is a finding; a real RR run in a store file is one too.
      writeFileSync(join(host, 'dump.txt'), '820,821,822');
      writeFileSync(join(store, 'jetstream', '2.blk'), '822 815 818');
      const more = scanHost(stack, 60);
      expect(more.some((f) => f.includes('dump.txt') && f.includes('RR run 820,821,822'))).toBe(true);
      expect(more.some((f) => f.includes('2.blk') && f.includes('RR run 822,815,818'))).toBe(true);
      rmSync(join(host, 'dump.txt'));
      rmSync(join(store, 'jetstream', '2.blk'));
      // A patient id is text only where text could hold it: inside ciphertext (neighbours 0x80+) it is chance.
      writeFileSync(
        join(store, 'jetstream', '3.blk'),
        Buffer.from([0x12, 0xe9, 0x0d, ...Buffer.from('P0001'), 0xf5, 0xf5]),
      );
      writeFileSync(join(host, 'leak.json'), '{"patient":"P0001"}');
      const ids = scanHost(stack, 60).filter((f) => f.includes('patient id'));
      expect(ids.some((f) => f.includes('3.blk'))).toBe(false);
      expect(ids.some((f) => f.includes('leak.json'))).toBe(true);
      rmSync(join(store, 'jetstream', '3.blk'));
      rmSync(join(host, 'leak.json'));
      // The gateway is trusted: its log is not scanned.
      expect(findings.some((f) => f.startsWith('gateway'))).toBe(false);
      expect(scanHost({ ...stack, natsStoreDirs: () => [], runs: [] }, 60)).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
