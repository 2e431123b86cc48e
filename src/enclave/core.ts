/**
 * The enclave's trusted logic, independent of how it is hosted: it holds the keys, opens rr-batch files
 * from enrolled gateways, enforces per-patient sequence numbers, keeps each patient's 5-minute RR window,
 * computes HRV with the pure core, raises alerts and seals results back to the gateway. State changes
 * only for a file that passed every check, so a rejected file never costs anything already accepted.
 * `main.ts` runs this in its own OS process; nothing here touches the host except the sealed files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createQuote,
  EnvelopeError,
  generateHpkeKeyPair,
  generateSigningKeyPair,
  hpkePublicKeyOf,
  keyIdOf,
  openEnvelope,
  readEnvelopeHeader,
  sealEnvelope,
  signingPublicKeyOf,
  type EnvelopeHeader,
  type Quote,
} from '../crypto/index.js';
import { HrvaultError, type ErrorCode } from '../errors.js';
import { HrvAnalyser } from './analysis.js';
import { loadSealingSecret, seal, unseal, writeFileDurable } from './sealing.js';

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
}

/** Counters of one micro-batch (aggregates only: they cross to the host). */
export interface BatchStats {
  files: number;
  accepted: number;
  rejected: number;
  beats: number;
  alerts: number;
  gaps: number;
  ms: number;
}

export interface BatchOutcome {
  results: { name: string; gateway: string; bytes: Uint8Array }[];
  rejected: { name: string; code: ErrorCode; reason: string }[];
  stats: BatchStats;
}

export interface EnclaveCoreOptions {
  dataDir: string;
  platformPrivateKey: Uint8Array;
  measurement: string;
  enrolledGateways: EnrolledGateway[];
}

/** The enclave's state machine; one instance per enclave process. */
export class EnclaveCore {
  readonly publicKey: Uint8Array;
  readonly signingPublicKey: Uint8Array;
  readonly keyId: string;
  readonly measurement: string;
  readonly #hpkePrivate: Uint8Array;
  readonly #signingPrivate: Uint8Array;
  readonly #platformKey: Uint8Array;
  readonly #secret: Uint8Array;
  readonly #stateFile: string;
  readonly #gateways = new Map<string, EnrolledGateway>();
  readonly #analyser = new HrvAnalyser();

  constructor(opts: EnclaveCoreOptions) {
    this.measurement = opts.measurement;
    this.#platformKey = opts.platformPrivateKey;
    for (const g of opts.enrolledGateways) this.#gateways.set(g.id, g);
    this.#secret = loadSealingSecret(join(opts.dataDir, 'seal.key'));
    const keysFile = join(opts.dataDir, 'keys.sealed');
    if (existsSync(keysFile)) {
      const keys = unseal(this.#secret, 'keys', readFileSync(keysFile));
      this.#hpkePrivate = new Uint8Array(keys.subarray(0, 32));
      this.#signingPrivate = new Uint8Array(keys.subarray(32, 64));
    } else {
      // Generated here, inside; the private halves leave only sealed under the platform secret.
      this.#hpkePrivate = generateHpkeKeyPair().privateKey;
      this.#signingPrivate = generateSigningKeyPair().privateKey;
      writeFileDurable(keysFile, seal(this.#secret, 'keys', Buffer.concat([this.#hpkePrivate, this.#signingPrivate])));
    }
    this.publicKey = hpkePublicKeyOf(this.#hpkePrivate);
    this.signingPublicKey = signingPublicKeyOf(this.#signingPrivate);
    this.keyId = keyIdOf(this.publicKey);
    this.#stateFile = join(opts.dataDir, 'state.sealed');
    if (existsSync(this.#stateFile)) this.#analyser.load(unseal(this.#secret, 'state', readFileSync(this.#stateFile)));
  }

  /** A quote binding the measurement and this enclave's public keys to `nonce`. */
  quote(nonce: Uint8Array): Quote {
    return createQuote(this.#platformKey, { measurement: this.measurement, enclavePublicKey: this.publicKey, enclaveSigningKey: this.signingPublicKey, nonce });
  }

  /** Number of patients with state. */
  get patientCount(): number {
    return this.#analyser.patientCount;
  }

  /** Opens, checks and analyses one micro-batch; returns sealed results, rejections with reasons, and aggregate counts. */
  processBatch(files: BatchFile[], written: string[] = []): BatchOutcome {
    void written;
    const started = performance.now();
    const out: BatchOutcome = { results: [], rejected: [], stats: { files: files.length, accepted: 0, rejected: 0, beats: 0, alerts: 0, gaps: 0, ms: 0 } };
    const reject = (name: string, err: unknown): void => {
      const code: ErrorCode = err instanceof HrvaultError ? err.code : 'HRV_ERR_ENCLAVE';
      out.rejected.push({ name, code, reason: err instanceof Error ? err.message : String(err) });
      out.stats.rejected++;
    };
    // Files reordered within one micro-batch are put back in order rather than rejected.
    const items: { f: BatchFile; h: EnvelopeHeader }[] = [];
    for (const f of files) {
      try {
        items.push({ f, h: readEnvelopeHeader(f.bytes) });
      } catch (err) {
        reject(f.name, err);
      }
    }
    items.sort((a, b) => (a.h.gateway < b.h.gateway ? -1 : a.h.gateway > b.h.gateway ? 1 : a.h.patient < b.h.patient ? -1 : a.h.patient > b.h.patient ? 1 : a.h.seq - b.h.seq));
    let changed = false;
    for (const { f } of items) {
      try {
        const r = this.#processFile(f);
        out.results.push(r.result);
        out.stats.accepted++;
        out.stats.beats += r.beats;
        out.stats.alerts += r.alerts;
        if (r.gap > 0) out.stats.gaps++;
        changed = true;
      } catch (err) {
        reject(f.name, err);
      }
    }
    // State is sealed before results are released, so a restart never re-accepts a file it answered.
    if (changed) writeFileDurable(this.#stateFile, seal(this.#secret, 'state', this.#analyser.save()));
    out.stats.ms = performance.now() - started;
    return out;
  }

  #processFile(f: BatchFile): { result: { name: string; gateway: string; bytes: Uint8Array }; beats: number; alerts: number; gap: number } {
    const h = readEnvelopeHeader(f.bytes);
    if (h.kind !== 'rr-batch') throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `expected an rr-batch file, got ${h.kind}`);
    if (h.key_id !== this.keyId) throw new EnvelopeError('HRV_ERR_ENVELOPE_INTEGRITY', `file is sealed to key ${h.key_id}, this enclave holds ${this.keyId}`);
    const gw = this.#gateways.get(h.gateway);
    const { plaintext } = openEnvelope(this.#hpkePrivate, f.bytes, { expectedKind: 'rr-batch', senderKey: () => gw?.signingPublicKey });
    const { result, beats, alerts, gap } = this.#analyser.analyse(h, new TextDecoder().decode(plaintext), f.name);
    const gwKey = gw!.hpkePublicKey;
    const header: EnvelopeHeader = { v: 1, kind: 'hrv-result', gateway: h.gateway, patient: h.patient, seq: h.seq, t_start_ms: h.t_start_ms, t_end_ms: h.t_end_ms, key_id: keyIdOf(gwKey) };
    const bytes = sealEnvelope(gwKey, header, new TextEncoder().encode(JSON.stringify(result)), this.#signingPrivate);
    return { result: { name: `${h.patient}-${h.seq}.result`, gateway: h.gateway, bytes }, beats, alerts, gap };
  }
}
