import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, openEnvelope } from '../crypto/index.js';
import { DEDUPE_WINDOW, LATE_WINDOW, parseBatchCsv, type HrvResult } from './analysis.js';
import { EnclaveCore } from './core.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';

const platform = generateSigningKeyPair();
const gw = makeGateway('gw-1');
const dirs: string[] = [];
function newCore(dir?: string): EnclaveCore {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'enclave-'));
  if (!dir) dirs.push(d);
  return new EnclaveCore({
    dataDir: d,
    platformPrivateKey: platform.privateKey,
    measurement: 'ab'.repeat(32),
    enrolledGateways: [{ id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey }],
  });
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openResult(bytes: Uint8Array, core: EnclaveCore): HrvResult {
  const o = openEnvelope(gw.hpke.privateKey, bytes, { expectedKind: 'hrv-result', senderKey: () => core.signingPublicKey });
  return JSON.parse(new TextDecoder().decode(o.plaintext)) as HrvResult;
}

/** Beats in the new (not redelivered) results of a reply: the gateway's count, which opens them (the host gets none). */
function beatsIn(out: ReturnType<EnclaveCore['processBatch']>, core: EnclaveCore): number {
  return out.results.filter((r) => !r.duplicate).reduce((a, r) => a + openResult(r.bytes, core).rr.t_ms.length, 0);
}

describe('EnclaveCore', () => {
  it('analyses batches in order and returns signed results sealed to the gateway', () => {
    const core = newCore();
    const files = [0, 1, 2].map((s) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    const out = core.processBatch(files);
    expect(out.rejected).toEqual([]);
    expect(beatsIn(out, core)).toBe(files.reduce((a, f) => a + f.beats, 0));
    const last = openResult(out.results[2]!.bytes, core);
    expect(last.seq).toBe(2);
    expect(last.original.length).toBeGreaterThan(0);
    expect(last.window.n).toBe(beatsIn(out, core));
    expect(last.window.measures?.mean_hr_bpm).toBeGreaterThan(65);
    expect(last.window.measures?.mean_hr_bpm).toBeLessThan(75);
  });

  it('pads every result of a 10-s file to one 4-KiB body, from 40 bpm to the 300-bpm floor of a full 1-KiB input', () => {
    const core = newCore();
    // The gateway's smallest bucket holds 1 KiB of CSV: 10 s at 300 bpm (50 beats) nearly fills it.
    const sizes = [40, 70, 150, 300].map((bpm, i) => {
      const f = sealedBatch(gw, core.publicKey, `p${i}`, 0, 0, 10_000, bpm);
      const out = core.processBatch([f]);
      expect(out.rejected).toEqual([]);
      const body = openEnvelope(gw.hpke.privateKey, out.results[0]!.bytes, { expectedKind: 'hrv-result', senderKey: () => core.signingPublicKey }).bodyBytes;
      return { body, sealed: out.results[0]!.bytes.length, beats: f.beats };
    });
    expect(sizes.map((s) => s.body)).toEqual([4096, 4096, 4096, 4096]);
    expect(new Set(sizes.map((s) => s.sealed)).size).toBe(1);
    expect(sizes[3]!.beats).toBeGreaterThanOrEqual(45);
  });

  it('puts files reordered inside one micro-batch back in order', () => {
    const core = newCore();
    const files = [2, 0, 1].map((s) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    expect(core.processBatch(files).rejected).toEqual([]);
  });

  it('answers a redelivered file with its original result (held until acknowledged), never analysing it twice', () => {
    const core = newCore();
    const f0 = sealedBatch(gw, core.publicKey, 'p1', 0, 0, 10_000);
    const first = core.processBatch([f0]);
    expect(first.results).toHaveLength(1);
    const again = core.processBatch([f0]);
    expect(again.rejected).toEqual([]);
    expect(again.stats).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(beatsIn(again, core)).toBe(0);
    expect(again.results.map((r) => ({ name: r.name, duplicate: r.duplicate, input: r.input }))).toEqual([{ name: 'p1-0.result', duplicate: true, input: f0.name }]);
    expect(Buffer.from(again.results[0]!.bytes).equals(Buffer.from(first.results[0]!.bytes))).toBe(true);
    // Once the host says the result is durable the enclave keeps only its receipt: a repeat then needs no new file.
    const acked = core.processBatch([f0], [{ gateway: gw.id, patient: 'p1', seq: 0 }]);
    expect(acked.results).toEqual([]);
    expect(acked.duplicates).toEqual([{ input: f0.name, gateway: gw.id, result: 'p1-0.result' }]);
    expect(acked.stats).toMatchObject({ accepted: 0, duplicates: 1, rejected: 0 });
    // The same number with other content is not a repeat: refused, state unchanged.
    const other = core.processBatch([{ ...sealedBatch(gw, core.publicKey, 'p1', 0, 0, 10_000, 95), name: 'p1-0-other.rrb' }]);
    expect(other.rejected.map((r) => [r.code, r.reason])).toEqual([['HRV_ERR_SEQUENCE_REPLAY', expect.stringMatching(/sequence 0 was accepted with other content/)]]);
    const f1 = sealedBatch(gw, core.publicKey, 'p1', 1, 10_000, 20_000);
    const next = core.processBatch([f1]);
    expect(openResult(next.results[0]!.bytes, core).window.n).toBe(f0.beats + f1.beats);
  });

  it('holds a file whose predecessor is missing until the host releases it, analysing a late predecessor first', () => {
    const core = newCore();
    const f = [0, 1, 2, 3, 4, 5].map((s) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    core.processBatch([f[0]!]);
    // f1 comes one micro-batch after f2: f2 waits and both are analysed in order, no gap, nothing refused.
    const early = core.processBatch([f[2]!]);
    expect(early).toMatchObject({ results: [], rejected: [], deferred: [f[2]!.name], stats: { deferred: 1, accepted: 0 } });
    const late = core.processBatch([f[2]!, f[1]!]);
    expect(late.rejected).toEqual([]);
    expect(late.results.map((r) => openResult(r.bytes, core)).map((r) => [r.seq, r.gap, r.window.n])).toEqual([
      [1, 0, f[0]!.beats + f[1]!.beats],
      [2, 0, f[0]!.beats + f[1]!.beats + f[2]!.beats],
    ]);
    // f3 never comes: f4 waits until the host says its hold is over, then is analysed with the gap flagged.
    expect(core.processBatch([f[4]!]).deferred).toEqual([f[4]!.name]);
    const gave = core.processBatch([{ ...f[4]!, release: true }]);
    expect(gave.stats).toMatchObject({ accepted: 1, deferred: 0 });
    expect(openResult(gave.results[0]!.bytes, core).gap).toBe(1);
    expect(openResult(gave.results[0]!.bytes, core).gap).toBe(1);
  });

  it('accepts a file late beyond the reorder hold on its own, flagged late, leaving the stream as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(dir);
    const core = newCore(dir);
    const f = [0, 1, 2, 3, 4, 5].map((s) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    core.processBatch([f[0]!, f[1]!, f[2]!]);
    // f3 is missing when the host's hold for f4 ends: f4 is analysed with the gap flagged; f3 comes after that.
    expect(openResult(core.processBatch([{ ...f[4]!, release: true }]).results[0]!.bytes, core).gap).toBe(1);
    const late = core.processBatch([f[3]!, f[5]!]);
    expect(late.rejected).toEqual([]);
    expect(late.stats).toMatchObject({ accepted: 2 });
    expect(beatsIn(late, core)).toBe(f[3]!.beats + f[5]!.beats);
    const [r3, r5] = late.results.map((r) => openResult(r.bytes, core));
    // The late file alone: its beats and what they give by themselves; no stream window, no alerts.
    expect(r3).toMatchObject({ seq: 3, late: true, gap: 0, alerts: [], active_alerts: [], window: { n: f[3]!.beats, partial: true } });
    expect(r3!.rr.t_ms).toHaveLength(f[3]!.beats);
    expect(r3!.window.measures?.mean_hr_bpm).toBeGreaterThan(65);
    // The stream goes on as if f3 never came: f5's window holds f0–f2, f4, f5.
    expect(r5).toMatchObject({ seq: 5, gap: 0, window: { n: f[0]!.beats + f[1]!.beats + f[2]!.beats + f[4]!.beats + f[5]!.beats } });
    expect(r5!.late).toBeUndefined();
    // Its receipt is kept like any accepted file's: a redelivery gets the same bytes, also after a restart.
    const again = core.processBatch([f[3]!]);
    expect(again.stats).toMatchObject({ accepted: 0, duplicates: 1, rejected: 0 });
    expect(Buffer.from(again.results[0]!.bytes).equals(Buffer.from(late.results[0]!.bytes))).toBe(true);
    const restarted = newCore(dir);
    expect(Buffer.from(restarted.processBatch([f[3]!]).results[0]!.bytes).equals(Buffer.from(late.results[0]!.bytes))).toBe(true);
    // Another file under the late number is not a repeat: refused.
    const other = restarted.processBatch([{ ...sealedBatch(gw, core.publicKey, 'p1', 3, 30_000, 40_000, 95), name: 'p1-3-other.rrb' }]);
    expect(other.rejected.map((r) => [r.code, r.reason])).toEqual([['HRV_ERR_SEQUENCE_REPLAY', expect.stringMatching(/sequence 3 was accepted with other content/)]]);
  });

  it('refuses a late file whose beats are not before the last accepted beat (it cannot precede its successors)', () => {
    const core = newCore();
    core.processBatch([sealedBatch(gw, core.publicKey, 'p1', 0, 0, 10_000), { ...sealedBatch(gw, core.publicKey, 'p1', 2, 10_000, 20_000), release: true }]);
    const out = core.processBatch([sealedBatch(gw, core.publicKey, 'p1', 1, 15_000, 25_000)]);
    expect(out.rejected.map((r) => [r.code, r.reason])).toEqual([['HRV_ERR_ENVELOPE_CONTENT', expect.stringMatching(/late file's beats are not before/)]]);
  });

  it('accepts a skipped file late beyond the dedupe window (its successors queued up during the hold), also after a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(dir);
    const core = newCore(dir);
    const files = Array.from({ length: DEDUPE_WINDOW + 3 }, (_, s) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    core.processBatch([files[0]!]);
    expect(core.processBatch(files.slice(2).map((f) => ({ ...f, release: true }))).stats.accepted).toBe(files.length - 2);
    const out = newCore(dir).processBatch([files[1]!]);
    expect(out.rejected).toEqual([]);
    expect(openResult(out.results[0]!.bytes, core)).toMatchObject({ seq: 1, late: true, window: { n: files[1]!.beats } });
  });

  it('refuses a file never seen, older than the dedupe window and not skipped by a release (or skipped beyond LATE_WINDOW)', () => {
    const core = newCore();
    const f = (s: number) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000);
    // The patient's first file sets the baseline: nothing before it was skipped.
    core.processBatch([f(DEDUPE_WINDOW + 5)]);
    // A release far ahead remembers only the last LATE_WINDOW numbers it skipped.
    core.processBatch([{ ...f(LATE_WINDOW + 100), release: true }]);
    const out = core.processBatch([f(2), f(50)]);
    expect(out.rejected.map((r) => [r.code, r.reason])).toEqual([
      ['HRV_ERR_SEQUENCE_REPLAY', expect.stringMatching(/sequence 2 is older than the last 16 accepted .* not skipped/)],
      ['HRV_ERR_SEQUENCE_REPLAY', expect.stringMatching(/sequence 50 is older than the last 16 accepted .* not skipped/)],
    ]);
    expect(core.processBatch([f(LATE_WINDOW + 50)]).stats.accepted).toBe(1);
  });

  it('refuses a repeat older than the dedupe window as a replay, once its result is acknowledged', () => {
    const core = newCore();
    const files = Array.from({ length: DEDUPE_WINDOW + 2 }, (_, s) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    const first = core.processBatch(files);
    expect(first.stats.accepted).toBe(files.length);
    const out = core.processBatch([files[0]!, files[2]!], first.results.map((r) => ({ gateway: r.gateway, patient: r.patient, seq: r.seq })));
    expect(out.rejected.map((r) => r.code)).toEqual(['HRV_ERR_SEQUENCE_REPLAY']);
    expect(out.rejected[0]!.reason).toMatch(/older than the last 16 accepted/);
    expect(out.stats.duplicates).toBe(1);
  });

  it('a crash after a micro-batch of more files of one patient than the dedupe window loses no result: every retried file gets its original back', () => {
    // The host's backlog after a restart: DEDUPE_WINDOW + 4 files of one patient in one call. The enclave seals
    // them (results held), the reply is lost (host or enclave killed), the restarted enclave gets the same files.
    const dir = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(dir);
    const a = newCore(dir);
    const files = Array.from({ length: DEDUPE_WINDOW + 4 }, (_, s) => sealedBatch(gw, a.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    const lost = a.processBatch(files);
    expect(lost.stats.accepted).toBe(files.length);
    const b = newCore(dir);
    const retried = b.processBatch(files);
    expect(retried.rejected).toEqual([]);
    expect(retried.stats).toMatchObject({ accepted: 0, duplicates: files.length });
    expect(retried.results.map((r) => Buffer.from(r.bytes).toString('base64'))).toEqual(lost.results.map((r) => Buffer.from(r.bytes).toString('base64')));
    // And in the same process (the host crashed alone): the same answer.
    expect(a.processBatch(files).rejected).toEqual([]);
  });

  it('drops a held result whose acknowledgement was lost once the host acknowledges a seq a window later (bounded state)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(dir);
    const a = newCore(dir);
    const files = Array.from({ length: DEDUPE_WINDOW + 6 }, (_, s) => sealedBatch(gw, a.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    const acksOf = (o: { results: { gateway: string; patient: string; seq: number }[] }) => o.results.map((r) => ({ gateway: r.gateway, patient: r.patient, seq: r.seq }));
    // Files 0–2: results written by the host, which crashed before it sent their acknowledgements.
    a.processBatch(files.slice(0, 3));
    const later = a.processBatch(files.slice(3, DEDUPE_WINDOW + 5));
    // Still held: a retry of 0 (had its result not been written) gets it back.
    expect(a.processBatch([files[0]!]).stats).toMatchObject({ duplicates: 1, rejected: 0 });
    a.processBatch([files.at(-1)!], acksOf(later));
    for (const core of [a, newCore(dir)]) {
      const out = core.processBatch([files[0]!, files[2]!]);
      expect(out.rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/sequence 0 is older than the last 16/), expect.stringMatching(/sequence 2 is older than the last 16/)]);
    }
  });

  it('rejects tampered, truncated, foreign-key, unsigned-by-enrolled and unknown-gateway files, one by one', () => {
    const core = newCore();
    const good = sealedBatch(gw, core.publicKey, 'p1', 0, 0, 10_000);
    const flipped = { name: 'flip.rrb', bytes: good.bytes.slice() };
    flipped.bytes[flipped.bytes.length - 70]! ^= 4;
    const truncated = { name: 'trunc.rrb', bytes: good.bytes.subarray(0, good.bytes.length - 10) };
    const foreign = sealedBatch(gw, makeGateway().hpke.publicKey, 'p2', 0, 0, 10_000);
    const forged = sealedBatch(gw, core.publicKey, 'p3', 0, 0, 10_000, 70, generateSigningKeyPair().privateKey);
    const stranger = sealedBatch(makeGateway('gw-x'), core.publicKey, 'p4', 0, 0, 10_000);
    const out = core.processBatch([flipped, truncated, { ...foreign, name: 'foreign.rrb' }, { ...forged, name: 'forged.rrb' }, { ...stranger, name: 'stranger.rrb' }, good]);
    const byName = Object.fromEntries(out.rejected.map((r) => [r.name, r.code]));
    expect(byName).toEqual({
      'flip.rrb': 'HRV_ERR_ENVELOPE_SIGNATURE',
      'trunc.rrb': 'HRV_ERR_ENVELOPE_TRUNCATED',
      'foreign.rrb': 'HRV_ERR_ENVELOPE_INTEGRITY',
      'forged.rrb': 'HRV_ERR_ENVELOPE_SIGNATURE',
      'stranger.rrb': 'HRV_ERR_ENVELOPE_SIGNATURE',
    });
    expect(out.results).toHaveLength(1);
    expect(beatsIn(out, core)).toBe(good.beats);
  });

  it('keeps its keys and per-patient state across a restart, and refuses tampered sealed state', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(dir);
    const a = newCore(dir);
    a.processBatch([sealedBatch(gw, a.publicKey, 'p1', 0, 0, 10_000)]);
    const b = newCore(dir);
    expect(b.publicKey).toEqual(a.publicKey);
    expect(b.patientCount).toBe(1);
    // The restarted enclave still holds the unacknowledged result and answers the redelivery with it.
    const redelivered = b.processBatch([sealedBatch(gw, b.publicKey, 'p1', 0, 0, 10_000)]);
    expect(redelivered.stats).toMatchObject({ accepted: 0, duplicates: 1, rejected: 0 });
    expect(openResult(redelivered.results[0]!.bytes, b).seq).toBe(0);
    const next = b.processBatch([sealedBatch(gw, b.publicKey, 'p1', 1, 10_000, 20_000)]);
    expect(openResult(next.results[0]!.bytes, b).window.span_ms).toBeGreaterThan(15_000);
    // Two journal records now (one per micro-batch that changed state); altering the first is tampering.
    const journal = readFileSync(join(dir, 'state-0.journal'));
    journal[100]! ^= 1;
    writeFileSync(join(dir, 'state-0.journal'), journal);
    expect(() => newCore(dir)).toThrow(/integrity/);
  });

  it('commits each micro-batch as one journal record; snapshot + journal replay to the same state; a torn tail is cut off', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(dir);
    const a = newCore(dir);
    const batch = (core: EnclaveCore, s: number) => [sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000), sealedBatch(gw, core.publicKey, 'p2', s, s * 10_000, (s + 1) * 10_000, 95)];
    let acks: { gateway: string; patient: string; seq: number }[] = [];
    // Until the journal has grown past the threshold once (a snapshot of a later generation replaced it) and has a record again.
    const journals = (): string[] => readdirSync(dir).filter((n) => n.endsWith('.journal'));
    let s = 0;
    for (; s < 35 || !existsSync(join(dir, 'state.sealed')) || journals().length === 0; s++) {
      acks = a.processBatch(batch(a, s), acks).results.map((r) => ({ gateway: r.gateway, patient: r.patient, seq: r.seq }));
    }
    expect(s).toBeLessThan(100);
    expect(journals()).toHaveLength(1);
    expect(journals()[0]).not.toBe('state-0.journal');
    const copy = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(copy);
    cpSync(dir, copy, { recursive: true });
    // A crash in the middle of an append leaves a torn record at the tail: never answered, so it is dropped.
    const journal = join(copy, journals()[0]!);
    appendFileSync(journal, Buffer.from([0, 0, 9, 0, 1, 2, 3]));
    const b = newCore(copy);
    const next = (core: EnclaveCore) => core.processBatch(batch(core, s), acks).results.map((r) => openResult(r.bytes, core));
    const fromRunning = next(a);
    const fromReplay = next(b);
    // The same analysis, under the same commit number; the commit ids differ (two enclaves made the commit apart:
    // what a gateway sees as a rollback).
    const withoutId = (r: HrvResult) => ({ ...r, state_commit: { n: r.state_commit!.n } });
    expect(fromReplay.map(withoutId)).toEqual(fromRunning.map(withoutId));
    expect(fromReplay[0]!.state_commit!.id).not.toBe(fromRunning[0]!.state_commit!.id);
    expect(fromReplay[0]!.window.span_ms).toBeGreaterThan(290_000);
    // And what the replayed enclave committed after the cut is read back again.
    expect(newCore(copy).processBatch(batch(b, s)).stats).toMatchObject({ accepted: 0, duplicates: 2 });
  });

  it('every result names the state commit holding its receipt: numbers rise by one per commit across restarts and snapshots; a redelivery names its original commit; a restored or deleted state makes a number again under another id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(dir);
    let core = newCore(dir);
    const commitOf = (out: ReturnType<EnclaveCore['processBatch']>) => out.results.map((r) => openResult(r.bytes, core).state_commit!);
    const first = commitOf(core.processBatch([sealedBatch(gw, core.publicKey, 'p1', 0, 0, 10_000), sealedBatch(gw, core.publicKey, 'p2', 0, 0, 10_000)]));
    expect(first.map((c) => c.n)).toEqual([1, 1]);
    expect(first[1]).toEqual(first[0]);
    const saved = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(saved);
    cpSync(dir, saved, { recursive: true });
    const second = commitOf(core.processBatch([sealedBatch(gw, core.publicKey, 'p1', 1, 10_000, 20_000)]));
    expect(second[0]!.n).toBe(2);
    // After a restart the counter goes on; a redelivered file gets its original result, naming its original commit.
    core = newCore(dir);
    const redelivered = commitOf(core.processBatch([sealedBatch(gw, core.publicKey, 'p1', 1, 10_000, 20_000)]));
    expect(redelivered).toEqual(second);
    expect(commitOf(core.processBatch([sealedBatch(gw, core.publicKey, 'p1', 2, 20_000, 30_000)]))[0]!.n).toBe(3);
    // The host restores the copy taken after commit 1 and replays seq 1: analysed again as commit 2, another id.
    for (const n of readdirSync(dir)) if (n.startsWith('state')) rmSync(join(dir, n));
    for (const n of readdirSync(saved)) if (n.startsWith('state')) cpSync(join(saved, n), join(dir, n));
    core = newCore(dir);
    const replayed = commitOf(core.processBatch([sealedBatch(gw, core.publicKey, 'p1', 1, 10_000, 20_000)]));
    expect(replayed[0]!.n).toBe(2);
    expect(replayed[0]!.id).not.toBe(second[0]!.id);
    // Deleting the state starts the numbers again from 1.
    for (const n of readdirSync(dir)) if (n.startsWith('state')) rmSync(join(dir, n));
    core = newCore(dir);
    expect(commitOf(core.processBatch([sealedBatch(gw, core.publicKey, 'p1', 1, 10_000, 20_000)]))[0]!.n).toBe(1);
  });

  it('raises tachycardia and AF-like alerts once at onset', () => {
    const core = newCore();
    const tachy = [];
    for (let s = 0; s < 8; s++) tachy.push(sealedBatch(gw, core.publicKey, 'tachy', s, s * 10_000, (s + 1) * 10_000, 140));
    const out = core.processBatch(tachy);
    const results = out.results.map((r) => openResult(r.bytes, core));
    expect(results.flatMap((r) => r.alerts.map((a) => a.type))).toEqual(['tachycardia']);
    expect(results.at(-1)!.active_alerts).toEqual(['tachycardia']);
    const normal = core.processBatch([sealedBatch(gw, core.publicKey, 'calm', 0, 0, 60_000, 70)]);
    expect(openResult(normal.results[0]!.bytes, core).alerts).toEqual([]);
  });

  it('parses CSV strictly, naming the line', () => {
    expect(parseBatchCsv('time_ms,rr_ms\n1000,800\n\n# pad\n1800,800\n', 'f').t).toEqual(Float64Array.from([1000, 1800]));
    expect(() => parseBatchCsv('time_ms,rr_ms\n1000,abc\n', 'f')).toThrow(/f:2: expected/);
    expect(() => parseBatchCsv('1000,800\n900,800\n', 'f')).toThrow(/does not increase/);
    expect(() => parseBatchCsv('1000,0\n', 'f')).toThrow(/outside/);
  });
});
