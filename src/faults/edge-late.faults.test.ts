/**
 * Scenario "edge-late": the host receives a patient's batch files out of order. One file of patient A is taken
 * out of the host's inbox as it arrives and put back once A's next two files wait in the inbox (within the
 * enclave's reorder hold, `reorderHoldMs`, 5 s here); one file of patient B is put back only after B's next file
 * was released from the hold and analysed with the gap flagged (beyond the hold). A late file never seen before
 * must be accepted: every acknowledged beat analysed exactly once (I1), I2, I3.
 *
 * Within the hold the file is analysed in order. Beyond the hold (finding 11, fixed) the enclave analyses it on
 * its own and answers a result flagged `late`; the stream goes on without it, and I3 checks the late result alone.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { areaDir } from '../cloud/index.js';
import type { EmbeddedBroker } from '../gateway/index.js';
import { readKeptEntries, type ExactlyOnceReport } from './checker.js';
import { holdInbox, type HeldFile, type InboxHold } from './inbox-hold.js';
import { printInvariants } from './report.js';
import { faultSeed } from './seed.js';
import { createStack, drainAndCheck, GATEWAY_USER, resultsKept, startSuiteBroker, untilSettled, type FaultStack, type Outcome } from './stack.js';

const PATIENTS = 4;
/** The files held: A's 4th (back within the hold), B's 12th (back after the hold released B's 13th). */
const WITHIN_SEQ = 4;
const BEYOND_SEQ = 12;

let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.close(process.env.HRVAULT_FAULTS_KEEP === '1');
  await broker?.close();
});

interface Run {
  r: Outcome;
  /** Real patient ids of the two held files' patients. */
  within: string;
  beyond: string;
  /** Files the host refused, by code, other than slipped files' redelivered copies refused as replays. */
  rejections: Record<string, number>;
  /** The `late` flags of the kept results of the file held beyond the hold (one per copy kept). */
  beyondLate: (boolean | undefined)[];
}
let run: Run | undefined;

/** The kept results' seqs per pseudonym, and each pseudonym's real patient. */
function kept(s: FaultStack): { seqs: Map<string, number[]>; real: Map<string, string> } {
  const seqs = new Map<string, number[]>();
  const real = new Map<string, string>();
  for (const e of readKeptEntries(join(s.gatewayDir, 'spool'))) {
    (seqs.get(e.result.patient) ?? seqs.set(e.result.patient, []).get(e.result.patient)!).push(e.result.seq);
    real.set(e.result.patient, e.patient);
  }
  return { seqs, real };
}

/** The host's refusals other than a slipped file's redelivered copy refused as a replay (which is right). */
function refusedNew(s: FaultStack, slipped: readonly string[]): { name: string; code: string }[] {
  return s.hostRejectedFiles().filter((f) => !(f.code === 'HRV_ERR_SEQUENCE_REPLAY' && slipped.includes(f.name)));
}

const tallyOk = (i1: ExactlyOnceReport, p: string): boolean => {
  const t = i1.perPatient[p];
  return t !== undefined && t.missing + t.duplicated + t.unknown === 0;
};

describe('faults: late and reordered batch files at the host', () => {
  it('a file late within the reorder hold is analysed in order; nothing lost or duplicated', async () => {
    const seed = faultSeed();
    const prefix = `hrvault/v1/late${process.pid}`;
    broker = await startSuiteBroker(prefix);
    const s = (stack = createStack({ name: 'edge-late', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix }));
    const inbox = areaDir(s.cloudDir, GATEWAY_USER, 'inbox');
    const cloud = await s.startCloud();
    const gw = await s.startGateway();
    // The first file numbered WITHIN_SEQ is held (patient A), then the first numbered BEYOND_SEQ of another patient (B)
    // (a later one of B's if that one slipped through: see below).
    let withinSeq = WITHIN_SEQ;
    let beyondSeq = BEYOND_SEQ;
    let aPseud: string | undefined;
    let bPseud: string | undefined;
    const held = (seq: number): HeldFile | undefined => hold.held.find((h) => h.seq === seq);
    const hold: InboxHold = holdInbox(inbox, join(s.dir, 'held'), (pseud, seq) =>
      seq === withinSeq
        ? held(withinSeq) === undefined && (aPseud === undefined || pseud === aPseud)
        : seq === beyondSeq && held(beyondSeq) === undefined && pseud !== aPseud && pseud !== held(withinSeq)?.pseudonym && (bPseud === undefined || pseud === bPseud),
    );
    const fleet = await s.startSensors(null, 10);
    const file = (f: HeldFile | undefined, seq: number): string => join(inbox, `${f?.pseudonym ?? '-'}-${String(seq).padStart(10, '0')}.hrve`);
    const keptOf = (f: HeldFile | undefined): number[] => (f === undefined ? [] : (kept(s).seqs.get(f.pseudonym) ?? []));
    // Progress for the waits: files held, and results kept up to a cap (the sensors never stop, so without the cap a
    // wait whose condition never comes would never settle).
    const cap = (n: number): (() => number) => {
      const until = resultsKept(gw) + n;
      return () => hold.held.length * 1_000_000 + Math.min(resultsKept(gw), until);
    };
    const notes: string[] = [];
    // Held files that were analysed in order all the same (the host read the file before the rename took it away, or
    // the gateway uploaded it again after an SFTP timeout): their copy goes back as a redelivery, which the enclave
    // answers with its receipt or, once the stream has moved past its dedupe window, refuses as a replay.
    const slipped: string[] = [];
    let fb: HeldFile | undefined;
    try {
      // Within the hold: A's next two files wait in the inbox for the missing one, which then comes back (3 tries).
      for (let tries = 0; tries < 3; tries++) {
        await untilSettled(() => held(withinSeq) !== undefined && existsSync(file(held(withinSeq), withinSeq + 1)) && existsSync(file(held(withinSeq), withinSeq + 2)), cap(30 * PATIENTS));
        const fa = held(withinSeq);
        if (!fa) break;
        aPseud = fa.pseudonym;
        const inOrder = keptOf(fa).includes(withinSeq);
        hold.release(fa);
        if (!inOrder) {
          notes.push(`A held ${fa.name}; back while ${withinSeq + 1} and ${withinSeq + 2} waited`);
          break;
        }
        slipped.push(fa.name);
        withinSeq = Math.max(...keptOf(fa)) + 20;
      }
      // Beyond the hold: B's next file is released and analysed (gap flagged) before the missing one comes back; on a
      // slip (see above), one of B's later files is held instead (3 tries).
      for (let tries = 0; tries < 3; tries++) {
        await untilSettled(() => keptOf(held(beyondSeq)).some((q) => q > beyondSeq), cap(60 * PATIENTS));
        fb = held(beyondSeq);
        if (!fb) break;
        bPseud = fb.pseudonym;
        const inOrder = keptOf(fb).includes(beyondSeq);
        hold.release(fb);
        if (!inOrder) {
          notes.push(`B held ${fb.name}; back after ${beyondSeq + 1} was analysed without it`);
          break;
        }
        slipped.push(fb.name);
        // Far enough ahead that the gateway has not uploaded it yet (0.3-s cuts).
        beyondSeq = Math.max(...keptOf(fb)) + 20;
      }
      // The late file's fate: analysed, or refused by the host.
      await untilSettled(() => keptOf(fb).includes(beyondSeq) || refusedNew(s, slipped).length > 0, cap(30 * PATIENTS));
      const before = resultsKept(gw);
      await untilSettled(() => resultsKept(gw) >= before + PATIENTS, () => resultsKept(gw));
    } finally {
      hold.close();
    }
    const r = await drainAndCheck(s, fleet, gw, cloud);
    const { real } = kept(s);
    const beyondLate = readKeptEntries(join(s.gatewayDir, 'spool'))
      .filter((e) => e.result.patient === fb?.pseudonym && e.result.seq === beyondSeq)
      .map((e) => e.result.late);
    const rejections: Record<string, number> = {};
    for (const f of refusedNew(s, slipped)) rejections[f.code] = (rejections[f.code] ?? 0) + 1;
    run = { r, within: real.get(held(withinSeq)?.pseudonym ?? '') ?? '?', beyond: real.get(fb?.pseudonym ?? '') ?? '?', rejections, beyondLate };
    printInvariants('edge-late', r, { seed, held: notes, within_patient: run.within, beyond_patient: run.beyond, beyond_result_late: beyondLate, slipped_through: slipped, host_rejections: s.hostRejectedFiles(), published: r.published, gateway_sigterm: r.gatewaySigterm });
    expect(notes, 'both files were held and put back').toHaveLength(2);
    expect(tallyOk(r.i1, run.within), `I1 for ${run.within} (late within the hold)`).toBe(true);
    for (const p of s.patients.map((x) => x.patient).filter((p) => p !== run!.beyond)) expect(tallyOk(r.i1, p), `I1 for ${p}`).toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
  });

  // Finding 11 (fixed): a file late beyond the reorder hold was refused as HRV_ERR_SEQUENCE_REPLAY and its beats lost.
  it('a file late beyond the reorder hold is accepted on its own, flagged late; its beats analysed exactly once', () => {
    expect(run, 'the scenario ran').toBeDefined();
    expect(run!.rejections, 'host refused no file').toEqual({});
    expect(run!.beyondLate, 'the late file has one result, flagged late').toEqual([true]);
    expect(tallyOk(run!.r.i1, run!.beyond), `I1 for ${run!.beyond} (late beyond the hold)`).toBe(true);
    expect(run!.r.i1.ok, 'I1 for every patient').toBe(true);
    expect(run!.r.i2, 'I2').toEqual([]);
    expect(run!.r.i3, 'I3 (the late result checked on its own)').toEqual([]);
  });
});
