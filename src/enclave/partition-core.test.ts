import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hrvResultSchema } from '../contracts/index.js';
import { generateSigningKeyPair, openEnvelope, partitionOf, verifyQuoteDetails } from '../crypto/index.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';
import type { HrvResult } from './analysis.js';
import { encodeClusterSecrets } from './cluster-secrets.js';
import {
  ClusterCore,
  DELTAS_PER_SNAPSHOT,
  type CheckpointPiece,
  type PartitionChain,
} from './partition-core.js';

const P = 4;
const platform = generateSigningKeyPair();
const gw = makeGateway('gw-1');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A worker's enclave core in its own data directory (or `dataDir`: the same worker restarted). */
function worker(dataDir?: string, partitions = P): ClusterCore {
  const d = dataDir ?? mkdtempSync(join(tmpdir(), 'cluster-core-'));
  if (!dataDir) dirs.push(d);
  return new ClusterCore({
    dataDir: d,
    platformPrivateKey: platform.privateKey,
    measurement: 'ab'.repeat(32),
    enrolledGateways: [
      { id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey },
    ],
    partitions,
  });
}

/** A first worker that bootstrapped the cluster, and a second one provisioned with the same secrets. */
function twoWorkers(): [ClusterCore, ClusterCore] {
  const a = worker();
  a.bootstrap();
  const b = worker();
  b.install(encodeClusterSecrets(a.heldSecrets()));
  return [a, b];
}

/** The `skip`-th patient pseudonym of partition `p` (searched with partitionOf, not assumed). */
function patientIn(p: number, skip = 0): string {
  for (let i = 0, found = 0; ; i++)
    if (partitionOf(`${gw.id}/pt-${i}`, P) === p && found++ === skip) return `pt-${i}`;
}

const batch = (core: ClusterCore, patient: string, seq: number) =>
  sealedBatch(gw, core.keys.publicKey, patient, seq, seq * 10_000, (seq + 1) * 10_000);

function openResult(bytes: Uint8Array, core: ClusterCore): HrvResult {
  const o = openEnvelope(gw.hpke.privateKey, bytes, {
    expectedKind: 'hrv-result',
    senderKey: () => core.keys.signingPublicKey,
  });
  return hrvResultSchema.parse(JSON.parse(new TextDecoder().decode(o.plaintext)));
}

/** The host's side: the chain it stores, appending each checkpoint piece (a snapshot starts a new chain). */
function append(chain: PartitionChain, piece: CheckpointPiece | undefined): PartitionChain {
  if (!piece) return chain;
  if (piece.kind === 'snapshot') return { snapshot: { id: piece.id, bytes: piece.bytes }, deltas: [] };
  expect(piece.snapshot).toBe(chain.snapshot?.id);
  expect(piece.index).toBe(chain.deltas.length);
  return { snapshot: chain.snapshot!, deltas: [...chain.deltas, { id: piece.id, bytes: piece.bytes }] };
}

describe('ClusterCore partitions', () => {
  it('checkpoints a partition in sealed pieces that another worker re-opens: a redelivered file is a duplicate with the same bytes, and the window goes on', () => {
    const [a, b] = twoWorkers();
    expect(b.keys.publicKey).toEqual(a.keys.publicKey);
    const p = 2;
    const pt = patientIn(p);
    const f = [0, 1, 2, 3].map((s) => batch(a, pt, s));
    expect(a.openPartition(p, { deltas: [] })).toEqual({ commit: 0, deltas: 0 });
    let chain: PartitionChain = { deltas: [] };

    const first = a.processPartition(p, [f[0]!, f[1]!]);
    expect(first.rejected).toEqual([]);
    expect(first.checkpoint?.kind).toBe('snapshot');
    expect(first.checkpoint?.id).toMatch(/^[0-9a-f]{16}$/);
    expect(openResult(first.results[1]!.bytes, a).state_commit).toEqual({
      p,
      n: 1,
      id: first.checkpoint!.id,
    });
    chain = append(chain, first.checkpoint);

    const second = a.processPartition(p, [f[2]!]);
    expect(second.checkpoint).toMatchObject({ kind: 'delta', snapshot: first.checkpoint!.id, index: 0 });
    expect(openResult(second.results[0]!.bytes, a).state_commit).toEqual({
      p,
      n: 2,
      id: second.checkpoint!.id,
    });
    chain = append(chain, second.checkpoint);
    // The host sees only ciphertext: no beat value of the file is in a piece.
    expect(Buffer.from(chain.snapshot!.bytes).includes(Buffer.from(f[0]!.values[0]!))).toBe(false);

    // Worker a dies; b takes the partition over from the stored chain.
    expect(b.openPartition(p, chain)).toEqual({ commit: 2, deltas: 1 });
    const again = b.processPartition(p, [f[2]!]);
    expect(again.stats).toMatchObject({ accepted: 0, duplicates: 1, rejected: 0 });
    expect(Buffer.from(again.results[0]!.bytes).equals(Buffer.from(second.results[0]!.bytes))).toBe(true);
    expect(again.checkpoint).toBeUndefined();
    const next = b.processPartition(p, [f[3]!]);
    expect(next.rejected).toEqual([]);
    const r = openResult(next.results[0]!.bytes, b);
    expect([r.seq, r.gap, r.window.n]).toEqual([3, 0, f.reduce((n, x) => n + x.beats, 0)]);
    expect(r.state_commit).toEqual({ p, n: 3, id: next.checkpoint!.id });
    expect(next.checkpoint).toMatchObject({ kind: 'delta', snapshot: first.checkpoint!.id, index: 1 });

    // Acknowledged results are dropped from the state (a delta records it); a repeat then needs no new file.
    const acked = b.processPartition(p, [f[3]!], [{ gateway: gw.id, patient: pt, seq: 3 }]);
    expect(acked.checkpoint).toMatchObject({ kind: 'delta', index: 2 });
    expect(acked.results).toEqual([]);
    expect(acked.duplicates).toEqual([{ input: f[3]!.name, gateway: gw.id, result: `${pt}-3.result` }]);
  });

  it('refuses a piece of another partition, a swapped or spliced chain and an altered byte (HRV_ERR_SEALING), leaving the partition closed', () => {
    const [a, b] = twoWorkers();
    const p = 1;
    const pt = patientIn(p);
    a.openPartition(p, { deltas: [] });
    let chain: PartitionChain = { deltas: [] };
    for (let s = 0; s < 3; s++) chain = append(chain, a.processPartition(p, [batch(a, pt, s)]).checkpoint);
    expect(chain.deltas).toHaveLength(2);
    const [d0, d1] = chain.deltas as [PartitionChain['deltas'][0], PartitionChain['deltas'][0]];
    const flipped = new Uint8Array(d1.bytes);
    flipped[flipped.length - 40]! ^= 1;
    // A chain of another partition: q's own snapshot, made by the same cluster.
    const q = 3;
    b.openPartition(q, { deltas: [] });
    const other = b.processPartition(q, [batch(b, patientIn(q), 0)]).checkpoint!;
    const bad: PartitionChain[] = [
      { snapshot: chain.snapshot!, deltas: [d1, d0] },
      { snapshot: chain.snapshot!, deltas: [d1] },
      { snapshot: chain.snapshot!, deltas: [d0, { id: d1.id, bytes: flipped }] },
      { snapshot: chain.snapshot!, deltas: [d0, { id: d0.id, bytes: d1.bytes }] },
      { snapshot: { id: other.id, bytes: other.bytes }, deltas: [] },
      { snapshot: { id: d0.id, bytes: d0.bytes }, deltas: [] },
      { deltas: [d0] },
    ];
    for (const c of bad) {
      expect(() => b.openPartition(p, c)).toThrow(expect.objectContaining({ code: 'HRV_ERR_SEALING' }));
      expect(() => b.processPartition(p, [])).toThrow(expect.objectContaining({ code: 'HRV_ERR_PARTITION' }));
    }
    // The snapshot of partition q does not open as partition p's, nor under another cluster's state secret.
    const stranger = worker();
    stranger.bootstrap();
    expect(() => stranger.openPartition(p, chain)).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_SEALING' }),
    );
    // Nor in a deployment of another partition count (its patients map to other partitions).
    const wider = worker(undefined, 2 * P);
    wider.install(encodeClusterSecrets(a.heldSecrets()));
    expect(() => wider.openPartition(p, { snapshot: chain.snapshot!, deltas: [] })).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_SEALING' }),
    );
    expect(b.openPartition(p, chain)).toEqual({ commit: 3, deltas: 2 });
  });

  it('refuses a file whose patient belongs to another partition with HRV_ERR_PARTITION, and a partition it has not opened', () => {
    const [a] = twoWorkers();
    expect(() => a.processPartition(0, [])).toThrow(expect.objectContaining({ code: 'HRV_ERR_PARTITION' }));
    expect(() => a.openPartition(P, { deltas: [] })).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_PARTITION' }),
    );
    a.openPartition(0, { deltas: [] });
    const stranger = batch(a, patientIn(3), 0);
    const mine = batch(a, patientIn(0), 0);
    const out = a.processPartition(0, [stranger, mine]);
    expect(out.rejected).toEqual([
      {
        name: stranger.name,
        code: 'HRV_ERR_PARTITION',
        reason: expect.stringMatching(/belongs to partition 3, not 0/),
      },
    ]);
    expect(out.stats).toMatchObject({ files: 2, accepted: 1, rejected: 1 });
    // Nothing of the stranger entered the state: partition 0's snapshot holds one patient.
    const alone = a.processPartition(0, [stranger]);
    expect(alone.checkpoint).toBeUndefined();
    expect(alone.rejected.map((r) => r.code)).toEqual(['HRV_ERR_PARTITION']);
    expect(a.closePartition(0)).toBe(true);
    expect(a.closePartition(0)).toBe(false);
    expect(() => a.processPartition(0, [mine])).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_PARTITION' }),
    );
  });

  it(`starts a new chain with a snapshot after ${DELTAS_PER_SNAPSHOT} deltas, and re-opens from either chain`, () => {
    const [a, b] = twoWorkers();
    const p = 0;
    const pt = patientIn(p);
    a.openPartition(p, { deltas: [] });
    let chain: PartitionChain = { deltas: [] };
    const kinds: string[] = [];
    let full: PartitionChain | undefined;
    for (let s = 0; s < DELTAS_PER_SNAPSHOT + 2; s++) {
      const piece = a.processPartition(p, [batch(a, pt, s)]).checkpoint!;
      kinds.push(piece.kind);
      if (chain.deltas.length === DELTAS_PER_SNAPSHOT) full = chain;
      chain = append(chain, piece);
    }
    expect(kinds).toEqual(['snapshot', ...Array<string>(DELTAS_PER_SNAPSHOT).fill('delta'), 'snapshot']);
    expect(chain.deltas).toEqual([]);
    // The longest chain (snapshot + 32 deltas) and the new snapshot both re-open to the same point, bar the last file.
    expect(b.openPartition(p, full!)).toEqual({
      commit: DELTAS_PER_SNAPSHOT + 1,
      deltas: DELTAS_PER_SNAPSHOT,
    });
    const last = DELTAS_PER_SNAPSHOT + 1;
    const redo = b.processPartition(p, [batch(b, pt, last)]);
    expect(redo.stats.accepted).toBe(1);
    expect(redo.checkpoint?.kind).toBe('snapshot');
    expect(b.openPartition(p, chain)).toEqual({ commit: DELTAS_PER_SNAPSHOT + 2, deltas: 0 });
    const more = b.processPartition(p, [batch(b, pt, last + 1)]);
    expect(openResult(more.results[0]!.bytes, b).window.n).toBeGreaterThan(0);
    expect(more.checkpoint).toMatchObject({ kind: 'delta', index: 0, snapshot: chain.snapshot!.id });
  });

  it('holds no keys until bootstrapped or provisioned; bootstraps once; takes the same secrets again but not others; keeps them across a restart', () => {
    const a = worker();
    expect(a.ready).toBe(false);
    expect(() => a.quote(new Uint8Array(32))).toThrow(/no cluster secrets yet/);
    expect(() => a.openPartition(0, { deltas: [] })).toThrow(/no cluster secrets yet/);
    const keys = a.bootstrap();
    expect(a.ready).toBe(true);
    expect(() => a.bootstrap()).toThrow(expect.objectContaining({ code: 'HRV_ERR_CONFLICT' }));
    expect(a.install(encodeClusterSecrets(a.heldSecrets()))).toEqual(keys);
    const other = worker();
    other.bootstrap();
    expect(() => a.install(encodeClusterSecrets(other.heldSecrets()))).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_CONFLICT' }),
    );
    expect(() => worker().install(new TextEncoder().encode('{}'))).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_SEALING' }),
    );
    // The same worker restarted: the secrets come back from its sealed copy.
    const dataDir = dirs[0]!;
    const restarted = worker(dataDir);
    expect(restarted.ready).toBe(true);
    expect(restarted.keys).toEqual(keys);
    const nonce = new Uint8Array(32).fill(9);
    const verified = verifyQuoteDetails(restarted.quote(nonce), {
      platformPublicKey: platform.publicKey,
      allowedMeasurements: [restarted.measurement],
      nonce,
      allowSoftwareQuotes: true,
    });
    expect(verified.enclavePublicKey).toEqual(keys.publicKey);
  });
});
