import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { SealedStateStore } from './state-store.js';

// Fixed randomness (nonces, commit ids) for the byte-for-byte comparison only; every other call is the real one.
const rng = vi.hoisted(() => ({ fixed: false }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, randomBytes: (n: number): Buffer => (rng.fixed ? Buffer.alloc(n, 0x5a) : real.randomBytes(n)) };
});

const root = mkdtempSync(join(tmpdir(), 'enclave-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  rng.fixed = false;
});
let dirs = 0;
const freshDir = (): string => mkdtempSync(join(root, `s${dirs++}-`));
const secret = new Uint8Array(32).fill(7);

/**
 * The on-disk format as the store wrote it before records were sealed in pieces, spelled out independently of
 * sealing.ts: AES-256-GCM (HKDF-SHA256 key per purpose, purpose as associated data) of the whole padded plaintext,
 * laid out as "HRVS1" ‖ nonce ‖ ciphertext ‖ tag.
 */
function formatSeal(purpose: string, plain: Uint8Array): Buffer {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), Buffer.from(`hrvault/v1/seal/${purpose}`), 32));
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(Buffer.from(purpose));
  return Buffer.concat([Buffer.from('HRVS1'), nonce, c.update(plain), c.final(), c.getAuthTag()]);
}

/** u32 length ‖ data ‖ zeros, `size` bytes in all (the size is given, not computed: the test pins the rule). */
function padTo(data: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(size);
  out.writeUInt32BE(data.length, 0);
  out.set(data, 4);
  return out;
}

/** One journal record as the previous code appended it: u32 sealed length ‖ sealed(pad(commit n ‖ id ‖ delta)). */
function formatRecord(generation: number, index: number, n: number, id: Uint8Array, delta: Uint8Array, size: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigUInt64BE(BigInt(n), 0);
  const blob = formatSeal(`journal/v3/${generation}/${index}`, padTo(Buffer.concat([head, id, delta]), size));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(blob.length, 0);
  return Buffer.concat([len, blob]);
}

/** The snapshot as the previous code wrote it: sealed(generation u32 ‖ counter u64 ‖ pad(state)). */
function formatSnapshot(generation: number, counter: number, state: Uint8Array, size: number): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32BE(generation, 0);
  head.writeBigUInt64BE(BigInt(counter), 4);
  return formatSeal('state/v3', Buffer.concat([head, padTo(state, size)]));
}

const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('sealed state store', () => {
  it('writes journal records and snapshots byte for byte as the previous format, padding included', () => {
    rng.fixed = true;
    const id = Buffer.alloc(16, 0x5a);
    const dir = freshDir();
    const store = new SealedStateStore(dir, secret);
    const d1 = bytes(100, 1);
    const d2 = bytes(70_000, 2);
    store.commit(d1);
    // minBytes over the 1-MiB zero block and not a multiple of it: the padding crosses several cipher updates.
    store.commit(d2, 2_500_000);
    const journal0 = Buffer.concat([formatRecord(0, 0, 1, id, d1, 1024), formatRecord(0, 1, 2, id, d2, 39 * 65_536)]);
    expect(readFileSync(join(dir, 'state-0.journal')).equals(journal0)).toBe(true);

    const state = bytes(70_000, 3);
    store.checkpoint(state);
    expect(readFileSync(join(dir, 'state.sealed')).equals(formatSnapshot(1, 2, state, 131_072))).toBe(true);
    expect(existsSync(join(dir, 'state-0.journal'))).toBe(false);
    expect(store.bytes.snapshot).toBe(131_072 + 12 + 33);

    // A delta given as pieces is the record of their concatenation; an empty piece changes nothing.
    const a = bytes(3000, 4);
    const b = bytes(2000, 5);
    store.commit([a, new Uint8Array(0), b]);
    expect(readFileSync(join(dir, 'state-1.journal')).equals(formatRecord(1, 0, 3, id, Buffer.concat([a, b]), 8192))).toBe(true);
    store.checkpoint([a, b], 300_000);
    store.commit(d1, 1024);
    expect(readFileSync(join(dir, 'state.sealed')).equals(formatSnapshot(2, 3, Buffer.concat([a, b]), 5 * 65_536))).toBe(true);
    expect(readFileSync(join(dir, 'state-2.journal')).equals(formatRecord(2, 0, 4, id, d1, 1024))).toBe(true);
  });

  it('loads a snapshot and journal written in the previous format, cuts a torn tail and deletes a stale journal', () => {
    const dir = freshDir();
    const state = bytes(5000, 6);
    const deltas = [bytes(10, 7), bytes(100_000, 8)];
    const ids = [randomBytes(16), randomBytes(16)];
    writeFileSync(join(dir, 'state.sealed'), formatSnapshot(1, 5, state, 8192));
    writeFileSync(join(dir, 'state-0.journal'), formatRecord(0, 0, 1, ids[0]!, deltas[0]!, 1024));
    const records = [formatRecord(1, 0, 6, ids[0]!, deltas[0]!, 1024), formatRecord(1, 1, 7, ids[1]!, deltas[1]!, 2 * 65_536)];
    const torn = formatRecord(1, 2, 8, ids[0]!, deltas[0]!, 1024).subarray(0, 500);
    writeFileSync(join(dir, 'state-1.journal'), Buffer.concat([...records, torn]));

    const restored: Buffer[] = [];
    const replayed: Buffer[] = [];
    const store = new SealedStateStore(dir, secret);
    store.load((s) => restored.push(Buffer.from(s)), (d) => replayed.push(Buffer.from(d)));
    expect(restored).toEqual([state]);
    expect(replayed).toEqual(deltas);
    expect(store.counter).toBe(7);
    expect(existsSync(join(dir, 'state-0.journal'))).toBe(false);
    expect(readFileSync(join(dir, 'state-1.journal')).length).toBe(records[0]!.length + records[1]!.length);

    // The new write path appends after the old records; a restart replays all three.
    const d3 = bytes(50, 9);
    store.commit(d3, 4096);
    const again: Buffer[] = [];
    const reloaded = new SealedStateStore(dir, secret);
    reloaded.load(() => undefined, (d) => again.push(Buffer.from(d)));
    expect(again).toEqual([...deltas, d3]);
    expect(reloaded.counter).toBe(8);
  });
});
