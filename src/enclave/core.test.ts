import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, openEnvelope } from '../crypto/index.js';
import { parseBatchCsv, type HrvResult } from './analysis.js';
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

describe('EnclaveCore', () => {
  it('analyses batches in order and returns signed results sealed to the gateway', () => {
    const core = newCore();
    const files = [0, 1, 2].map((s) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    const out = core.processBatch(files);
    expect(out.rejected).toEqual([]);
    expect(out.stats.beats).toBe(files.reduce((a, f) => a + f.beats, 0));
    const last = openResult(out.results[2]!.bytes, core);
    expect(last.seq).toBe(2);
    expect(last.original.length).toBeGreaterThan(0);
    expect(last.window.n).toBe(out.stats.beats);
    expect(last.window.measures?.mean_hr_bpm).toBeGreaterThan(65);
    expect(last.window.measures?.mean_hr_bpm).toBeLessThan(75);
  });

  it('puts files reordered inside one micro-batch back in order', () => {
    const core = newCore();
    const files = [2, 0, 1].map((s) => sealedBatch(gw, core.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
    expect(core.processBatch(files).rejected).toEqual([]);
  });

  it('rejects replayed and late files, flags gaps, and keeps what was accepted', () => {
    const core = newCore();
    const f0 = sealedBatch(gw, core.publicKey, 'p1', 0, 0, 10_000);
    const f1 = sealedBatch(gw, core.publicKey, 'p1', 1, 10_000, 20_000);
    const f3 = sealedBatch(gw, core.publicKey, 'p1', 3, 30_000, 40_000);
    core.processBatch([f0]);
    const replay = core.processBatch([f0]);
    expect(replay.rejected.map((r) => r.code)).toEqual(['HRV_ERR_SEQUENCE_REPLAY']);
    const gap = core.processBatch([f3]);
    expect(gap.stats.gaps).toBe(1);
    expect(openResult(gap.results[0]!.bytes, core).gap).toBe(2);
    const late = core.processBatch([f1]);
    expect(late.rejected[0]?.code).toBe('HRV_ERR_SEQUENCE_REPLAY');
    expect(late.rejected[0]?.reason).toMatch(/sequence 1 is not after 3/);
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
    expect(out.stats.beats).toBe(good.beats);
  });

  it('keeps its keys and per-patient state across a restart, and refuses tampered sealed state', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-'));
    dirs.push(dir);
    const a = newCore(dir);
    a.processBatch([sealedBatch(gw, a.publicKey, 'p1', 0, 0, 10_000)]);
    const b = newCore(dir);
    expect(b.publicKey).toEqual(a.publicKey);
    expect(b.patientCount).toBe(1);
    expect(b.processBatch([sealedBatch(gw, b.publicKey, 'p1', 0, 0, 10_000)]).rejected[0]?.code).toBe('HRV_ERR_SEQUENCE_REPLAY');
    const next = b.processBatch([sealedBatch(gw, b.publicKey, 'p1', 1, 10_000, 20_000)]);
    expect(openResult(next.results[0]!.bytes, b).window.span_ms).toBeGreaterThan(15_000);
    const state = readFileSync(join(dir, 'state.sealed'));
    state[state.length - 1]! ^= 1;
    writeFileSync(join(dir, 'state.sealed'), state);
    expect(() => newCore(dir)).toThrow(/integrity/);
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
