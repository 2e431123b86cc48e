/**
 * The checkpoint store on the JetStream server at 127.0.0.1:4222 (skipped with a printed reason where none
 * answers): pieces stored and read back by the chain that names them (one larger than a NATS message, in chunks),
 * a chain that names a missing piece or chunk refused, replaced chains dropped, and uncommitted candidates swept
 * only once old.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HrvaultError } from '../errors.js';
import { standaloneSkipReason, useStandalone } from '../jetstream/test-support/standalone.js';
import {
  CHUNK_BYTES,
  CheckpointStore,
  ensureStateStream,
  extendChain,
  parseChain,
  stateStreamName,
  type CheckpointPiece,
} from './checkpoints.js';

const skipReason = await standaloneSkipReason();
const id = (): string => randomBytes(8).toString('hex');
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

describe.skipIf(skipReason !== null)('checkpoint store', () => {
  const s = useStandalone();
  const prefix = `hrvtckpt${randomBytes(3).toString('hex')}`;
  let store: CheckpointStore;
  const fresh = async (): Promise<CheckpointStore> => {
    if (!store) {
      s.streams.push(stateStreamName(prefix));
      await ensureStateStream(s.jsm, { prefix, replicas: 1 });
      store = new CheckpointStore(s.jsm, s.js, prefix);
    }
    return store;
  };

  it('reads back exactly the pieces a chain names, in order, including a snapshot larger than one NATS message', async () => {
    const st = await fresh();
    const snap: CheckpointPiece = { kind: 'snapshot', id: id(), bytes: bytes(2_500_000) };
    let chain = extendChain(undefined, snap);
    await st.put(3, snap);
    const deltas = [0, 1].map((index): CheckpointPiece => ({
      kind: 'delta',
      id: id(),
      snapshot: snap.id,
      index,
      bytes: bytes(5000),
    }));
    for (const d of deltas) {
      await st.put(3, d);
      chain = extendChain(chain, d);
    }
    const back = await st.read(3, parseChain(JSON.stringify(chain)));
    expect(Buffer.compare(Buffer.from(back.snapshot!.bytes), Buffer.from(snap.bytes))).toBe(0);
    expect(back.deltas.map((d) => d.id)).toEqual(deltas.map((d) => d.id));
    expect(Buffer.from(back.deltas[1]!.bytes)).toEqual(Buffer.from(deltas[1]!.bytes));
    expect(await st.read(3, undefined)).toEqual({ deltas: [] });
    // An empty piece and one of exactly one chunk round-trip too.
    for (const n of [0, CHUNK_BYTES]) {
      const p: CheckpointPiece = { kind: 'snapshot', id: id(), bytes: bytes(n) };
      await st.put(7, p);
      expect((await st.read(7, extendChain(undefined, p))).snapshot!.bytes.length).toBe(n);
    }
  });

  it('refuses a delta that does not continue the chain, a chain naming a missing piece, and a piece missing a chunk', async () => {
    const st = await fresh();
    const snap: CheckpointPiece = { kind: 'snapshot', id: id(), bytes: bytes(10) };
    const chain = extendChain(undefined, snap);
    expect(() =>
      extendChain(chain, { kind: 'delta', id: id(), snapshot: snap.id, index: 1, bytes: bytes(1) }),
    ).toThrow(HrvaultError);
    expect(() =>
      extendChain(chain, { kind: 'delta', id: id(), snapshot: id(), index: 0, bytes: bytes(1) }),
    ).toThrow(/does not continue/);
    await expect(st.read(4, chain)).rejects.toThrow(/committed piece .* is missing/);
    expect(() => parseChain('{"s":"zz","d":[]}')).toThrow(/16 hex/);
    expect(() => parseChain('not json')).toThrow(/not JSON/);
    const big: CheckpointPiece = { kind: 'snapshot', id: id(), bytes: bytes(CHUNK_BYTES * 2 + 10) };
    await st.put(4, big);
    await s.jsm.streams.purge(stateStreamName(prefix), { filter: `${prefix}.state.4.${big.id}.1` });
    await expect(st.read(4, extendChain(undefined, big))).rejects.toThrow(/chunk 1 of piece .* is missing/);
  });

  it('drops a replaced chain, and sweeps only old candidates no chain names', async () => {
    const st = await fresh();
    const p = 5;
    const old: CheckpointPiece = { kind: 'snapshot', id: id(), bytes: bytes(10) };
    const cur: CheckpointPiece = { kind: 'snapshot', id: id(), bytes: bytes(10) };
    const orphan: CheckpointPiece = {
      kind: 'delta',
      id: id(),
      snapshot: cur.id,
      index: 0,
      bytes: bytes(CHUNK_BYTES + 1),
    };
    for (const piece of [old, cur, orphan]) await st.put(p, piece);
    await st.put(6, { kind: 'snapshot', id: id(), bytes: bytes(10) });
    await st.drop(p, extendChain(undefined, old));
    expect(new Set(await st.pieceIds(p))).toEqual(new Set([cur.id, orphan.id]));
    const current = extendChain(undefined, cur);
    expect(await st.sweep(p, current, 60_000)).toBe(0);
    expect(await st.sweep(p, current, 0)).toBe(1);
    expect(await st.pieceIds(p)).toEqual([cur.id]);
    expect(await st.pieceIds(6)).toHaveLength(1);
  });
});
