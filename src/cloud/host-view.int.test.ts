/**
 * What the untrusted host learns from the enclave must not depend on a patient's data (issue 9 item 5). The host
 * chooses which files go into a call, down to one patient's file, so any per-call figure that depends on the content
 * (beats, alerts, the analysis time, a result's size) is that patient's heart rate or alert. Two hosts run the same
 * real enclave code on two batch streams of the same shape — one patient, same names, numbers, time ranges and file
 * sizes — one at a resting rate, one in tachycardia: everything each host receives from its enclave process and
 * every counter it keeps must be the same, apart from the ciphertext bytes.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSshKeyPair, openEnvelope } from '../crypto/index.js';
import { spawnEnclave, type BatchOutcome, type EnclaveClient, type HrvResult } from '../enclave/index.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';
import { areaDir, outboxBundles, readOutboxResults, startCloud, type CloudHandle } from './index.js';

const gw = makeGateway('gw-1');
/** 10-s batches per stream: enough for the journal to pass its snapshot threshold once. */
const BATCHES = 24;
const sshKey = generateSshKeyPair();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** One host with its own enclave process; records every reply the enclave process sends it. */
async function host(): Promise<{ dir: string; enclave: EnclaveClient; cloud: CloudHandle; replies: BatchOutcome[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'host-view-'));
  dirs.push(dir);
  const enclave = await spawnEnclave({
    dataDir: join(dir, 'enclave'),
    platformKeyFile: join(dir, 'platform.key'),
    enrolledGateways: [{ id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey }],
  });
  const replies: BatchOutcome[] = [];
  // The host's side of the process boundary: every reply passes through here.
  const observed: EnclaveClient = {
    get pid() {
      return enclave.pid;
    },
    get restarts() {
      return enclave.restarts;
    },
    publicKey: enclave.publicKey,
    signingPublicKey: enclave.signingPublicKey,
    keyId: enclave.keyId,
    measurement: enclave.measurement,
    quote: (nonce) => enclave.quote(nonce),
    processBatch: async (files, written) => {
      const out = await enclave.processBatch(files, written);
      replies.push(structuredClone(out));
      return out;
    },
    close: () => enclave.close(),
  };
  const cloud = await startCloud({ dataDir: join(dir, 'cloud'), gateways: [{ id: gw.id, sshPublicKey: sshKey.public }], batchIntervalMs: 3_600_000, mode: 'secure', enclave: observed, reorderHoldMs: 0 });
  return { dir, enclave, cloud, replies };
}

/** A reply with each result's ciphertext replaced by its length: what may differ is only the bytes themselves. */
function shape(out: BatchOutcome): unknown {
  return { ...out, results: out.results.map((r) => ({ ...r, bytes: r.bytes.length })) };
}

/** Host counters without the host's own clock readings (wall time of a micro-batch), which it measures itself. */
function counters(c: CloudHandle): unknown {
  const { batch_ms: _ms, records, ...rest } = c.stats();
  return { ...rest, records: records.map(({ ms: _m, started_ms: _s, phases_ms: _p, ...r }) => r) };
}

describe('the host learns nothing of a patient\'s data from the enclave', () => {
  it('two one-patient streams of the same shape, at 62 bpm and at 150 bpm (tachycardia alert): every reply the host gets from the enclave process and every host counter are identical except the ciphertext bytes; result files and the journal and snapshot of the sealed state have equal sizes', async () => {
    const rest = await host();
    const tachy = await host();
    const outboxSizes: Record<string, number[]> = { rest: [], tachy: [] };
    // The enclave's sealed state lies on the host's disk too: its journal grows by one record per call, and a snapshot
    // replaces it now and then. Sizes after every call.
    const stateSizes: Record<string, [string, number][][]> = { rest: [], tachy: [] };
    const sizesOf = (d: string): [string, number][] =>
      readdirSync(d)
        .filter((n) => n === 'state.sealed' || n.endsWith('.journal'))
        .sort()
        .map((n) => [n, statSync(join(d, n)).size]);
    const bodies: Record<string, HrvResult[]> = { rest: [], tachy: [] };
    for (const [label, h, bpm] of [['rest', rest, 62], ['tachy', tachy, 150]] as const) {
      for (let seq = 0; seq < BATCHES; seq++) {
        const f = sealedBatch(gw, h.enclave.publicKey, 'p1', seq, seq * 10_000, (seq + 1) * 10_000, bpm);
        writeFileSync(join(areaDir(join(h.dir, 'cloud'), gw.id, 'inbox'), `p1-${String(seq).padStart(10, '0')}.hrve`), f.bytes);
        await h.cloud.flush();
        stateSizes[label]!.push(sizesOf(join(h.dir, 'enclave')));
      }
      const outbox = areaDir(join(h.dir, 'cloud'), gw.id, 'outbox');
      // One bundle per micro-batch, each holding that batch's result; their sizes, and the results', must match.
      for (const n of outboxBundles(outbox)) outboxSizes[label]!.push(statSync(join(outbox, n)).size);
      for (const bytes of readOutboxResults(outbox).values()) {
        outboxSizes[label]!.push(bytes.length);
        const { plaintext } = openEnvelope(gw.hpke.privateKey, bytes, { expectedKind: 'hrv-result', senderKey: () => h.enclave.signingPublicKey });
        bodies[label]!.push(JSON.parse(Buffer.from(plaintext).toString('utf8')) as HrvResult);
      }
    }
    // The two streams really differ inside: the rates, the beat counts, and an alert in one only.
    const last = (l: string) => bodies[l]!.find((b) => b.seq === BATCHES - 1)!;
    expect(last('rest').window.measures!.mean_hr_bpm).toBeLessThan(70);
    expect(last('tachy').window.measures!.mean_hr_bpm).toBeGreaterThan(140);
    expect(bodies.rest!.flatMap((b) => b.alerts)).toEqual([]);
    expect(bodies.tachy!.flatMap((b) => b.alerts.map((a) => a.type))).toEqual(['tachycardia']);
    expect(last('tachy').rr.t_ms.length).toBeGreaterThan(2 * last('rest').rr.t_ms.length);
    // What crossed to the host is the same.
    expect(rest.replies).toHaveLength(BATCHES);
    expect(tachy.replies.map(shape)).toEqual(rest.replies.map(shape));
    expect(counters(tachy.cloud)).toEqual(counters(rest.cloud));
    expect(outboxSizes.tachy).toEqual(outboxSizes.rest);
    expect(stateSizes.rest!.some((files) => files.some(([n]) => n === 'state.sealed')), 'no snapshot was written').toBe(true);
    expect(stateSizes.tachy).toEqual(stateSizes.rest);
    for (const h of [rest, tachy]) {
      await h.cloud.stop();
      await h.enclave.close();
    }
  }, 120_000);
});
