import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMIT_WINDOW, EnclaveCommits, EnclaveRollbackError } from './enclave-commits.js';

const id = (s: string): string => s.padEnd(22, 'A');

describe('EnclaveCommits (the gateway detects a rolled-back enclave state)', () => {
  it('refuses a commit number seen before under another id, also after a gateway restart; a known commit is a redelivery', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'commits-')), 'c.json');
    const c = EnclaveCommits.open(file);
    for (const n of [1, 2, 3]) {
      expect(c.judge({ n, id: id(`a${n}`) })).toBe('new');
      c.record({ n, id: id(`a${n}`) });
    }
    const again = EnclaveCommits.open(file);
    expect(again.max()).toBe(3);
    expect(again.judge({ n: 2, id: id('a2') })).toBe('known');
    expect(() => again.judge({ n: 2, id: id('b2') })).toThrow(EnclaveRollbackError);
    expect(() => again.judge({ n: 1, id: id('b1') })).toThrow(/rolled the enclave's state back/);
    expect(again.judge({ n: 4, id: id('a4') })).toBe('new');
  });

  it('takes a never-seen commit a little behind the newest (late results, other gateways\' commits) but refuses one beyond the lag (a state restarted from scratch)', () => {
    const c = EnclaveCommits.open(join(mkdtempSync(join(tmpdir(), 'commits-')), 'c.json'), { lagCommits: 10 });
    c.record({ n: 50, id: id('x') });
    expect(c.judge({ n: 45, id: id('y') })).toBe('new');
    expect(() => c.judge({ n: 39, id: id('z') })).toThrow(/behind the newest/);
    expect(() => c.judge({ n: 1, id: id('z') })).toThrow(EnclaveRollbackError);
  });

  it('numbers the commits of each partition of JetStream workers on their own, across a restart, and still refuses a rollback within one', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'commits-')), 'c.json');
    const c = EnclaveCommits.open(file);
    c.record({ n: 300, id: id('emb') });
    for (const p of [0, 1, 2]) {
      // Each partition counts from 1: neither another partition's number nor the embedded enclave's far-ahead one is a rollback.
      expect(c.judge({ p, n: 1, id: id(`p${p}n1`) })).toBe('new');
      c.record({ p, n: 1, id: id(`p${p}n1`) });
    }
    const again = EnclaveCommits.open(file);
    expect([again.max(), again.max({ p: 1 }), again.max({ p: 5 })]).toEqual([300, 1, 0]);
    expect(again.judge({ p: 2, n: 1, id: id('p2n1') })).toBe('known');
    expect(() => again.judge({ p: 2, n: 1, id: id('forked') })).toThrow(/1 of partition 2 arrives with another id/);
    expect(() => again.judgeReplay({ p: 0, n: 1, id: id('p1n1') })).toThrow(EnclaveRollbackError);
  });

  it('a result for a batch already kept must come from the commit the gateway took it from: otherwise it was analysed twice', () => {
    const c = EnclaveCommits.open(join(mkdtempSync(join(tmpdir(), 'commits-')), 'c.json'));
    c.record({ n: 7, id: id('orig') });
    expect(() => c.judgeReplay({ n: 7, id: id('orig') })).not.toThrow();
    expect(() => c.judgeReplay({ n: 7, id: id('again') })).toThrow(/analysed twice/);
    expect(() => c.judgeReplay({ n: 8, id: id('later') })).toThrow(EnclaveRollbackError);
  });

  it('keeps the ids of the newest COMMIT_WINDOW numbers only (bounded file), and refuses unknown numbers below them', () => {
    const c = EnclaveCommits.open(join(mkdtempSync(join(tmpdir(), 'commits-')), 'c.json'), { lagCommits: 10 * COMMIT_WINDOW });
    for (let n = 1; n <= COMMIT_WINDOW + 5; n++) c.record({ n, id: id(`k${n}`) });
    expect(c.judge({ n: COMMIT_WINDOW + 5, id: id(`k${COMMIT_WINDOW + 5}`) })).toBe('known');
    expect(() => c.judge({ n: 3, id: id('k3') })).toThrow(EnclaveRollbackError);
  });
});
