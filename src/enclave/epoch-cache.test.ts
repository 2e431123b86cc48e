import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, openEpochEnvelope, parseEpochEnvelope, sealEpochEnvelope, type EpochKeys } from '../crypto/index.js';
import { GatewayEpochs } from '../gateway/index.js';
import { makeGateway, rrCsv, sealedBatch } from '../test-support/sealed-batches.js';
import type { HrvResult } from './analysis.js';
import { EnclaveCore } from './core.js';

const platform = generateSigningKeyPair();
const gw = makeGateway('gw-1');
const gw2 = makeGateway('gw-2');
const dirs: string[] = [];
const tmp = (p: string): string => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newCore(dir = tmp('enclave-')): EnclaveCore {
  return new EnclaveCore({
    dataDir: dir,
    platformPrivateKey: platform.privateKey,
    measurement: 'ab'.repeat(32),
    enrolledGateways: [gw, gw2].map((g) => ({ id: g.id, signingPublicKey: g.signing.publicKey, hpkePublicKey: g.hpke.publicKey })),
  });
}

/** The gateway side: its epoch store and files sealed as gateway.ts seals them. */
function gatewayOf(g = gw) {
  const epochs = GatewayEpochs.open(tmp('epochs-'), g.id, g.signing.privateKey);
  return {
    epochs,
    batch(core: EnclaveCore, patient: string, seq: number, t0: number, t1: number, bpm = 70, keys?: EpochKeys) {
      const { csv, beats } = rrCsv(t0, t1, bpm);
      const k = keys ?? epochs.forNextFile({ publicKey: core.publicKey });
      const bytes = sealEpochEnvelope(k, { v: 1, kind: 'rr-batch', gateway: g.id, patient, seq, t_start_ms: t0, t_end_ms: t1, key_id: core.keyId }, new TextEncoder().encode(csv), { padTo: (n) => Math.max(1024, n) });
      return { name: `${patient}-${seq}.hrve`, bytes, beats };
    },
    open(bytes: Uint8Array): HrvResult {
      const o = openEpochEnvelope(bytes, (p) => epochs.forResult(p.block.gateway, p.block.idHex), { expectedKind: 'hrv-result' });
      return JSON.parse(new TextDecoder().decode(o.plaintext)) as HrvResult;
    },
  };
}

describe('enclave with epoch envelopes (version 2)', () => {
  it('authenticates an epoch once, analyses every file of it, and answers under the same epoch', () => {
    const core = newCore();
    const g = gatewayOf();
    const files = [0, 1, 2, 3].flatMap((s) => [g.batch(core, 'p1', s, s * 10_000, (s + 1) * 10_000), g.batch(core, 'p2', s, s * 10_000, (s + 1) * 10_000, 90)]);
    const out = core.processBatch(files);
    expect(out.rejected).toEqual([]);
    expect(out.stats.accepted).toBe(8);
    expect(core.epochUnlocks).toBe(1);
    const last = g.open(out.results.find((r) => r.patient === 'p1' && r.seq === 3)!.bytes);
    expect(last.window.n).toBe(files.filter((_, i) => i % 2 === 0).reduce((a, f) => a + f.beats, 0));
    for (const r of out.results) expect(parseEpochEnvelope(r.bytes).block.type).toBe('reference');
  });

  it('recovers an epoch after a restart from any file of it, keeps refusing replays, and still reads version 1', () => {
    const dir = tmp('enclave-');
    const g = gatewayOf();
    let core = newCore(dir);
    const f0 = g.batch(core, 'p1', 0, 0, 10_000);
    const first = core.processBatch([f0]);
    core = newCore(dir);
    expect(core.epochUnlocks).toBe(0);
    // The redelivered file gets its original result, byte for byte; the next one opens under the recovered epoch.
    const again = core.processBatch([f0]);
    expect(Buffer.from(again.results[0]!.bytes).equals(Buffer.from(first.results[0]!.bytes))).toBe(true);
    const next = core.processBatch([g.batch(core, 'p1', 1, 10_000, 20_000), sealedBatch(gw, core.publicKey, 'p9', 0, 0, 10_000)]);
    expect(next.rejected).toEqual([]);
    expect(core.epochUnlocks).toBe(1);
    const other = core.processBatch([{ ...g.batch(core, 'p1', 1, 10_000, 20_000, 95), name: 'p1-1-other.hrve' }]);
    expect(other.rejected.map((r) => r.code)).toEqual(['HRV_ERR_SEQUENCE_REPLAY']);
  });

  it('never lets a cached epoch vouch for another block: a tampered block is refused by its signature', () => {
    const core = newCore();
    const g = gatewayOf();
    expect(core.processBatch([g.batch(core, 'p1', 0, 0, 10_000)]).rejected).toEqual([]);
    const f1 = g.batch(core, 'p1', 1, 10_000, 20_000);
    // The block's last byte (of its signature) ends where the nonce (12) and the ciphertext length (4) begin.
    const sigByte = parseEpochEnvelope(f1.bytes).aad.length - 12 - 4 - 1;
    const t = f1.bytes.slice();
    t[sigByte]! ^= 1;
    const out = core.processBatch([{ ...f1, bytes: t }]);
    expect(out.rejected.map((r) => r.code)).toEqual(['HRV_ERR_ENVELOPE_SIGNATURE']);
    expect(core.processBatch([f1]).rejected).toEqual([]);
  });

  it("refuses a file carrying another gateway's epoch and a file whose epoch the sender did not sign", () => {
    const core = newCore();
    const g1 = gatewayOf(gw);
    const g2 = gatewayOf(gw2);
    const mine = g1.batch(core, 'p1', 0, 0, 10_000);
    expect(core.processBatch([mine]).rejected).toEqual([]);
    // gw-2 (enrolled) seals a file for its own patient under an epoch it makes in gw-1's name: the block is not gw-1's.
    const forged = GatewayEpochs.open(tmp('epochs-'), 'gw-1', gw2.signing.privateKey);
    const out = core.processBatch([g1.batch(core, 'p1', 1, 10_000, 20_000, 70, forged.forNextFile({ publicKey: core.publicKey }))]);
    expect(out.rejected.map((r) => r.code)).toEqual(['HRV_ERR_ENVELOPE_SIGNATURE']);
    // A gw-2 file relabelled as gw-1's by the host: its block names gw-2.
    const theirs = Buffer.from(g2.batch(core, 'p1', 1, 10_000, 20_000).bytes);
    theirs.set(Buffer.from('gw-1'), theirs.indexOf('"gw-2"') + 1);
    expect(core.processBatch([{ name: 'x.hrve', bytes: theirs }]).rejected.map((r) => r.code)).toEqual(['HRV_ERR_ENVELOPE_EPOCH']);
  });

  it('a result of epoch A does not open at the gateway as epoch B, nor at another gateway', () => {
    const core = newCore();
    const g = gatewayOf();
    const a = g.epochs.forNextFile({ publicKey: core.publicKey });
    const out = core.processBatch([g.batch(core, 'p1', 0, 0, 10_000, 70, a)]);
    const result = out.results[0]!.bytes;
    expect(g.open(result).seq).toBe(0);
    const g2 = gatewayOf(gw2);
    expect(() => g2.open(result)).toThrow(/gw-1\/.* does not hold/);
    const b = g.epochs.forNextFile({ publicKey: core.publicKey }, Date.now() + 4_000_000);
    expect(b.idHex).not.toBe(a.idHex);
    expect(() => openEpochEnvelope(result, () => b)).toThrow(/keys of epoch/);
  });
});
