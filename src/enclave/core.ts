/**
 * The enclave's trusted logic, independent of how it is hosted: it holds the keys, opens rr-batch files
 * from enrolled gateways, enforces per-patient sequence numbers, keeps each patient's 5-minute RR window,
 * computes HRV with the pure core, raises alerts and seals results back to the gateway. State changes
 * only for a file that passed every check, so a rejected file never costs anything already accepted.
 * `main.ts` runs this in its own OS process; nothing here touches the host except the sealed files.
 */
import { join } from 'node:path';
import {
  createQuote,
  defaultPadBucket,
  envelopeVersionOf,
  EnvelopeError,
  EPOCH_ENVELOPE_VERSION,
  keyIdOf,
  openEnvelope,
  openEpochEnvelope,
  readEnvelopeHeader,
  sealEnvelope,
  sealEpochEnvelope,
  type EnvelopeHeader,
  type EpochKeys,
  type Quote,
} from '../crypto/index.js';
import { HrvaultError, type ErrorCode } from '../errors.js';
import { failpoint } from '../failpoints/index.js';
import { HrvAnalyser, inputDigest } from './analysis.js';
import { EpochCache } from './epoch-cache.js';
import { KeyRing, NO_ROTATION, type KeyPolicy } from './keyring.js';
import { loadSealingSecret, SealingError } from './sealing.js';
import { SealedStateStore } from './state-store.js';

/** A gateway the trusted operator enrolled: its id, Ed25519 signing key and X25519 HPKE key (raw bytes). */
export interface EnrolledGateway {
  id: string;
  signingPublicKey: Uint8Array;
  hpkePublicKey: Uint8Array;
}

/** One file handed to the enclave by the host. */
export interface BatchFile {
  name: string;
  bytes: Uint8Array;
  /** The file has waited its reorder hold for a missing predecessor: analyse it now, with the gap flagged. */
  release?: boolean;
}

/**
 * Counters of one micro-batch. They cross to the host, so each is a count of files the host handed over, sorted by
 * what the host can tell from their headers and sequence numbers alone: never beats, alerts, measures or the time
 * the analysis took, which depend on a patient's data (the host chooses which files go into a call, down to one
 * patient's). Beats and alerts are counted by the gateway, which opens the results.
 */
export interface BatchStats {
  files: number;
  accepted: number;
  rejected: number;
  /** True repeats of accepted files, answered with their original result (not analysed again). */
  duplicates: number;
  /** Files held back for a missing predecessor (bounded reorder). */
  deferred: number;
  /** Result files in the reply (new and redelivered). */
  results: number;
}

/** The host's acknowledgement that a result file is durable (fsync'd in its outbox). */
export interface ResultAck {
  gateway: string;
  patient: string;
  seq: number;
}

/** A sealed result for the host to write; the same bytes again for a redelivered file (`duplicate`). */
export interface BatchResult extends ResultAck {
  /** `<pseudonym>-<seq>.result` */
  name: string;
  bytes: Uint8Array;
  /** The input file it answers. */
  input: string;
  duplicate: boolean;
}

export interface BatchOutcome {
  results: BatchResult[];
  /** Repeats of files whose result the host already acknowledged: nothing new to write; the input can be filed away. */
  duplicates: { input: string; gateway: string; result: string }[];
  /** Files waiting for a missing predecessor: the host leaves them in its inbox for the next micro-batch. */
  deferred: string[];
  rejected: { name: string; code: ErrorCode; reason: string }[];
  stats: BatchStats;
}

/**
 * Body size (bytes) of a result file answering an input whose padded body is `inputBytes` (the host sees it too: the
 * file's size less its clear framing): the power of two at or above 4 times that (at least 4 KiB). A result carries
 * the batch's beats (about 1.2 times their CSV as JSON), the window's measures and alerts (~1.3 KiB) and one original
 * block (~100 bytes) per 10 s: for the gateway's smallest bucket (1 KiB of CSV, at most ~50 beats) at most ~2.6 KiB,
 * for larger inputs at most ~1.3 times the input plus that. So the size depends only on the input's padded size,
 * never on the heart rate or the alerts inside (10-s batches: 1.3–1.6 KiB of JSON from 40 to 200 bpm, in 4-KiB
 * bodies). A body larger than that (not seen from a gateway's cuts) takes the next power of two above it.
 * (Until 2026-12 the bound was taken from the whole sealed file, 1.4 KB with its framing: 8-KiB bodies, twice the size.)
 */
export function resultBodyBytes(inputBytes: number, bodyBytes: number): number {
  return Math.max(defaultPadBucket(Math.max(4096, 4 * inputBytes)), defaultPadBucket(bodyBytes));
}

/**
 * Least size (bytes) of the journal record of a call, from what the host knows (the host sees the journal grow by
 * each record): per new result its sealed size plus twice its input's padded body (the beats, as JSON, take at most
 * ~1.2 times the input's CSV) and 1 KiB of counters and receipts, plus 128 bytes per acknowledgement and 4 KiB. So the record,
 * padded to it, does not tell the host how many beats or which alerts a call's patients had. Records over it (a long
 * list of skipped numbers after a gap) take their own size's bucket.
 */
export function journalRecordBytes(results: ReadonlyArray<readonly [resultBytes: number, inputBytes: number]>, acks: number): number {
  return results.reduce((a, [r, i]) => a + r + 2 * i + 1024, 4096 + 128 * acks);
}

/**
 * Least size (bytes) of the state snapshot for `patients` patients (a number the host can tell from the pseudonyms it
 * has seen): each patient's fullest 5-minute window (1,500 beats at the gateway's 200-ms floor, 16 bytes each) and
 * 4 KiB of counters and receipts. Padded to it, the snapshot's size does not tell the host how many beats the
 * windows hold (one patient's heart rate, when there is one patient).
 */
export function snapshotBytes(patients: number): number {
  return patients * (1500 * 16 + 4096);
}

export interface EnclaveCoreOptions {
  dataDir: string;
  platformPrivateKey: Uint8Array;
  measurement: string;
  enrolledGateways: EnrolledGateway[];
  /** Key rotation and retention (default: never rotate). */
  keyPolicy?: KeyPolicy;
}

/** The enclave's state machine; one instance per enclave process. */
export class EnclaveCore {
  readonly measurement: string;
  readonly #keys: KeyRing;
  readonly #platformKey: Uint8Array;
  readonly #secret: Uint8Array;
  readonly #state: SealedStateStore;
  #broken: SealingError | undefined;
  readonly #gateways = new Map<string, EnrolledGateway>();
  readonly #analyser = new HrvAnalyser({ journal: true });
  readonly #epochs = new EpochCache();
  readonly #files: FileOpeners;

  constructor(opts: EnclaveCoreOptions) {
    this.measurement = opts.measurement;
    this.#platformKey = opts.platformPrivateKey;
    for (const g of opts.enrolledGateways) this.#gateways.set(g.id, g);
    this.#secret = loadSealingSecret(join(opts.dataDir, 'seal.key'));
    // Generated here, inside; the private halves leave only sealed under the platform secret.
    this.#keys = KeyRing.open(join(opts.dataDir, 'keys.sealed'), this.#secret, opts.keyPolicy ?? NO_ROTATION);
    this.#files = { keys: this.#keys, gateways: this.#gateways, epochs: this.#epochs };
    this.#state = new SealedStateStore(opts.dataDir, this.#secret);
    this.#state.load(
      (snapshot) => this.#analyser.load(snapshot),
      (delta) => this.#analyser.applyDelta(delta),
    );
  }

  /** The current HPKE public key (new files are sealed to it). */
  get publicKey(): Uint8Array {
    return this.#keys.current.publicKey;
  }

  /** The current signing key's public half. */
  get signingPublicKey(): Uint8Array {
    return this.#keys.current.signingPublicKey;
  }

  get keyId(): string {
    return this.#keys.current.keyId;
  }

  /** A quote binding the measurement and this enclave's current public keys to `nonce` (rotating first if due). */
  quote(nonce: Uint8Array): Quote {
    this.#rotateIfDue();
    return createQuote(this.#platformKey, { measurement: this.measurement, enclavePublicKey: this.publicKey, enclaveSigningKey: this.signingPublicKey, nonce });
  }

  /** Rotates the key pair when due. A failed write of the keys file keeps the current pair: it is retried next time. */
  #rotateIfDue(): void {
    try {
      this.#keys.rotateIfDue(Date.now());
    } catch {
      // nothing changed (the ring updates only after its sealed file is durable)
    }
  }

  /** Epoch opening blocks this process authenticated (one signature check and HPKE open each; the rest hit the cache). */
  get epochUnlocks(): number {
    return this.#epochs.unlocks;
  }

  /** Number of patients with state. */
  get patientCount(): number {
    return this.#analyser.patientCount;
  }

  /**
   * Opens, checks and analyses one micro-batch; returns sealed results, rejections with reasons, and aggregate counts.
   * `written` acknowledges results of earlier micro-batches that the host has made durable.
   *
   * Commit: every accepted file's receipt (content hash and sealed result) enters the state, and the state is sealed
   * to disk before the reply leaves. A crash before the seal loses nothing (the host retries the files); after it,
   * the retried files are recognised and answered with the held results, byte for byte, without a second analysis.
   */
  processBatch(files: BatchFile[], written: ResultAck[] = []): BatchOutcome {
    if (this.#broken) throw this.#broken;
    this.#rotateIfDue();
    let acked = false;
    for (const a of written) if (this.#analyser.acknowledge(a)) acked = true;
    // A new snapshot goes here, when the acknowledged results are gone and this micro-batch's are not yet made.
    if (this.#state.checkpointDue) this.#commit(() => this.#state.checkpoint(this.#analyser.save(), snapshotBytes(this.#analyser.patientCount)));
    const run = runBatchFiles(this.#files, this.#analyser, files, this.#state.nextCommit);
    // The micro-batch's changes are committed (one sealed journal record, fdatasync'd) before results are released, so a
    // restart answers a retried file with the result it already made.
    const delta = acked || run.accepted ? this.#analyser.takeDelta() : undefined;
    if (delta) {
      const minBytes = run.recordBytes(written.length);
      this.#commit(() => this.#state.commit(delta, minBytes));
      failpoint('enclave.after-seal');
    }
    return run.outcome;
  }

  /**
   * Runs a state write; if it fails, memory is ahead of the disk, so this instance refuses all further work (the
   * host restarts the process, which reloads what is durable) rather than answer from state that may not survive.
   */
  #commit(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.#broken = new SealingError(`state commit failed: ${err instanceof Error ? err.message : String(err)}; the enclave must restart`, { cause: err });
      throw this.#broken;
    }
  }

  /** Set when a state write failed: the process must be restarted from its sealed state. */
  get broken(): boolean {
    return this.#broken !== undefined;
  }
}

/** What opening a file needs besides the analysis state: the keys, the enrolled gateways and the epoch-key cache. */
export interface FileOpeners {
  keys: KeyRing;
  gateways: ReadonlyMap<string, EnrolledGateway>;
  epochs: EpochCache;
}

/** What one call did with its files, for its caller to commit: the outcome to reply with, and the record's least size. */
export interface BatchRun {
  outcome: BatchOutcome;
  /** Some file was accepted (the analysis state changed). */
  accepted: boolean;
  /** The least padded size (bytes) of the call's state record (journalRecordBytes), given how many acknowledgements it carries. */
  recordBytes(acks: number): number;
}

/**
 * Opens, checks and analyses one call's files against `analyser`, for the embedded enclave (EnclaveCore) and for a
 * partition of the cluster enclave alike: headers read, files of one patient put back in order, each file opened,
 * classified and analysed, its result sealed naming `stateCommit` (the commit its receipt goes into). `admit` sees
 * each file's header before it is opened and throws to refuse it. State changes only for accepted files; the caller
 * commits them (takeDelta) before the outcome leaves the enclave.
 */
export function runBatchFiles(openers: FileOpeners, analyser: HrvAnalyser, files: BatchFile[], stateCommit: object, admit?: (h: EnvelopeHeader) => void): BatchRun {
  const out: BatchOutcome = {
    results: [],
    duplicates: [],
    deferred: [],
    rejected: [],
    stats: { files: files.length, accepted: 0, rejected: 0, duplicates: 0, deferred: 0, results: 0 },
  };
  const reject = (name: string, err: unknown): void => {
    const code: ErrorCode = err instanceof HrvaultError ? err.code : 'HRV_ERR_ENCLAVE';
    out.rejected.push({ name, code, reason: err instanceof Error ? err.message : String(err) });
    out.stats.rejected++;
  };
  // Files reordered within one micro-batch are put back in order rather than rejected.
  const items: { f: BatchFile; h: EnvelopeHeader }[] = [];
  /** Padded body size of each input that made a new result: what the journal record is sized from. */
  const inputBody = new Map<string, number>();
  for (const f of files) {
    try {
      const h = readEnvelopeHeader(f.bytes);
      admit?.(h);
      items.push({ f, h });
    } catch (err) {
      reject(f.name, err);
    }
  }
  items.sort((a, b) => (a.h.gateway < b.h.gateway ? -1 : a.h.gateway > b.h.gateway ? 1 : a.h.patient < b.h.patient ? -1 : a.h.patient > b.h.patient ? 1 : a.h.seq - b.h.seq));
  for (const { f, h } of items) {
    try {
      const r = processFile(openers, analyser, f, h, stateCommit);
      if (r.kind === 'defer') {
        out.deferred.push(f.name);
        out.stats.deferred++;
      } else if (r.kind === 'duplicate') {
        if (r.result) out.results.push(r.result);
        else out.duplicates.push(r.acked);
        out.stats.duplicates++;
      } else {
        out.results.push(r.result);
        inputBody.set(f.name, r.inputBodyBytes);
        out.stats.accepted++;
      }
    } catch (err) {
      reject(f.name, err);
    }
  }
  out.stats.results = out.results.length;
  return {
    outcome: out,
    accepted: out.stats.accepted > 0,
    recordBytes: (acks) => journalRecordBytes(out.results.filter((r) => !r.duplicate).map((r) => [r.bytes.length, inputBody.get(r.input)!]), acks),
  };
}

/** One file of a call (its header read): opened with the key it names, classified against the state, analysed and answered if new. */
function processFile(
  openers: FileOpeners,
  analyser: HrvAnalyser,
  f: BatchFile,
  h: EnvelopeHeader,
  stateCommit: object,
):
  | { kind: 'defer' }
  | { kind: 'duplicate'; result?: BatchResult; acked: BatchOutcome['duplicates'][number] }
  | { kind: 'new'; result: BatchResult; inputBodyBytes: number } {
  if (h.kind !== 'rr-batch') throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `expected an rr-batch file, got ${h.kind}`);
  // The pair it was sealed to (current, or retired within retention) opens it and, for a version-1 file, signs its
  // result: the gateway attested that pair together before it sealed to it. A version-2 file's result is sealed
  // under its epoch's result key, which only this gateway and the holder of that pair's HPKE key can know.
  const pair = openers.keys.forOpening(h.key_id);
  const gw = openers.gateways.get(h.gateway);
  // Authenticated before anything is classified: a forged repeat learns nothing and gets nothing back.
  let plaintext: Uint8Array;
  let epoch: EpochKeys | undefined;
  let inputBodyBytes: number;
  if (envelopeVersionOf(f.bytes) === EPOCH_ENVELOPE_VERSION) {
    ({ plaintext, epoch, bodyBytes: inputBodyBytes } = openEpochEnvelope(f.bytes, (p) => openers.epochs.keysFor(p, pair.hpkePrivate, gw?.signingPublicKey), { expectedKind: 'rr-batch' }));
  } else {
    ({ plaintext, bodyBytes: inputBodyBytes } = openEnvelope(pair.hpkePrivate, f.bytes, { expectedKind: 'rr-batch', senderKey: () => gw?.signingPublicKey }));
  }
  const input = inputDigest(plaintext);
  const name = `${h.patient}-${h.seq}.result`;
  const c = analyser.classify(h, input, f.release === true);
  if (c.kind === 'defer') return c;
  const base = { name, gateway: h.gateway, patient: h.patient, seq: h.seq, input: f.name };
  if (c.kind === 'duplicate') {
    const held = c.receipt.result;
    return held ? { kind: 'duplicate', result: { ...base, bytes: held, duplicate: true }, acked: { input: f.name, gateway: h.gateway, result: name } } : { kind: 'duplicate', acked: { input: f.name, gateway: h.gateway, result: name } };
  }
  const analysed = analyser.analyse(h, new TextDecoder().decode(plaintext), f.name, input);
  // Named before the commit is made: the receipt goes into exactly that commit, or the caller discards the state.
  const result = { ...analysed.result, state_commit: stateCommit };
  const gwKey = gw!.hpkePublicKey;
  const header: EnvelopeHeader = { v: 1, kind: 'hrv-result', gateway: h.gateway, patient: h.patient, seq: h.seq, t_start_ms: h.t_start_ms, t_end_ms: h.t_end_ms, key_id: keyIdOf(gwKey) };
  const body = new TextEncoder().encode(JSON.stringify(result));
  const padTo = (n: number): number => resultBodyBytes(inputBodyBytes, n);
  // Answered in the version it was asked in.
  const bytes = epoch ? sealEpochEnvelope(epoch, header, body, { padTo }) : sealEnvelope(gwKey, header, body, pair.signingPrivate, { padTo });
  analyser.hold(h, bytes);
  return { kind: 'new', result: { ...base, bytes, duplicate: false }, inputBodyBytes };
}
