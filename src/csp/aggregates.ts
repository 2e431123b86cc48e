/**
 * Paillier aggregates that the SP computes and cannot forge. Each HRV record carries, beside Enc(X) of its
 * packed measures X, a tag Enc(k·X + r) where k ∈ Z_n is a CSP secret and r = PRF(record's place: patient
 * ref and sequence number). Both add up under Paillier, so the SP's two sums S and T satisfy
 * T ≡ k·S + Σ r (mod n) over exactly the records summed. The CSP checks that over the records ITS index
 * says are in the range: an SP that adds an encryption of its choice, scales, drops, adds or swaps records,
 * or replays an older sum fails it whatever the data, so the check answers no question about the data.
 * A failure suspends aggregates durably (no query reaches that SP again) until an admin resumes them.
 */
import { createCipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { PaillierEncryptor, SlotCodec, decryptPlaintext } from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import type { SpLink } from '../protocol/index.js';
import type { SqlDb } from '../sql/index.js';
import type { AuditLog } from './audit.js';
import type { CspKeys } from './csp-keys.js';
import { ValidationError } from './errors.js';
import type { HrvRecordData } from '../contracts/index.js';
import type { AggregateMetric } from './vocabulary.js';

// Slot layout of the Paillier plaintext attached to each HRV record: a count and a sum (×1000) per metric,
// so windows whose measure is null do not bias the mean.
const SLOT = { sdnn_ms: 0, rmssd_ms: 2, mean_hr_bpm: 4, mean_nn_ms: 6 } as const;
/** Slot 8 counts records (a cross-check; the MAC is what proves the SP summed exactly the right records). */
const RECORD_COUNT_SLOT = 8;
const SLOTS_USED = 9;
const FIXED_POINT = 1000;
/** Version of what the MAC binds (layout and record naming); part of every pad. */
const MAC_CONTEXT = 'hrvault aggregate-mac hrv-v1';

/** The SP's aggregate failed its MAC check: tampered, incomplete, padded or replayed. */
export class AggregateIntegrityError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_AGGREGATE_INTEGRITY', message);
    this.name = 'AggregateIntegrityError';
  }
}

/** Aggregates are suspended after a detected forgery; only an admin resumes them. */
export class AggregatesSuspendedError extends HrvaultError {
  readonly sinceMs: number;
  constructor(sinceMs: number) {
    super('HRV_ERR_AGGREGATES_SUSPENDED', `aggregates are suspended since ${new Date(sinceMs).toISOString()}: the storage provider forged one; an admin must resume them`);
    this.name = 'AggregatesSuspendedError';
    this.sinceMs = sinceMs;
  }
}

/** A record in the CSP's own index: what the MAC's pads are derived from. */
export interface IndexedRecord {
  patient_ref: string;
  seq: number;
}

/**
 * The linearly homomorphic MAC over Z_n: tag(X, id) = k·X + r_id mod n, with k and the PRF key derived from
 * the CSP's aggregate MAC key. Valid for sums: Σ tag = k·Σ X + Σ r.
 */
export class AggregateMac {
  readonly #n: bigint;
  readonly #k: bigint;
  readonly #prf: Buffer;
  readonly #blocks: number;

  constructor(seed: Buffer, n: bigint) {
    if (seed.length < 32) throw new HrvaultError('HRV_ERR_CONFIG', 'the aggregate MAC key must be at least 32 bytes');
    // 128 bits beyond n's size, so the values reduced mod n are statistically uniform.
    const bytes = Math.ceil(n.toString(16).length / 2) + 16;
    this.#n = n;
    this.#k = toBig(Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), `${MAC_CONTEXT} k`, bytes))) % n;
    this.#prf = Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), `${MAC_CONTEXT} prf`, 32));
    this.#blocks = Math.ceil(bytes / 16);
  }

  /** r for the record at (patient ref, seq) (see `pads`). */
  pad(patientRef: string, seq: number): bigint {
    return this.sumOfPads([{ patient_ref: patientRef, seq }]);
  }

  /**
   * Σ r over `records`, mod n. r for (patient ref, seq) is AES-256 (ECB over distinct counter blocks
   * seq ‖ i, i.e. a PRF) under a per-patient key HMAC-SHA256(prf key, patient ref), n's size + 128 bits,
   * reduced mod n: one cipher per patient, so a range of many records costs little more than its bytes.
   */
  sumOfPads(records: Iterable<IndexedRecord>): bigint {
    const byPatient = new Map<string, number[]>();
    for (const r of records) {
      const seqs = byPatient.get(r.patient_ref);
      if (seqs) seqs.push(r.seq);
      else byPatient.set(r.patient_ref, [r.seq]);
    }
    const width = this.#blocks * 16;
    let sum = 0n;
    for (const [ref, seqs] of byPatient) {
      const input = Buffer.alloc(seqs.length * width);
      seqs.forEach((seq, j) => {
        for (let i = 0; i < this.#blocks; i++) {
          input.writeBigUInt64BE(BigInt(seq), j * width + i * 16);
          input.writeBigUInt64BE(BigInt(i), j * width + i * 16 + 8);
        }
      });
      const cipher = createCipheriv('aes-256-ecb', createHmac('sha256', this.#prf).update(ref).digest(), null).setAutoPadding(false);
      const out = Buffer.concat([cipher.update(input), cipher.final()]);
      for (let j = 0; j < seqs.length; j++) sum += toBig(out.subarray(j * width, (j + 1) * width)) % this.#n;
    }
    return sum % this.#n;
  }

  /** The tag plaintext k·X + r mod n of plaintext X stored at (patient ref, seq). */
  tag(x: bigint, patientRef: string, seq: number): bigint {
    return (this.#k * x + this.pad(patientRef, seq)) % this.#n;
  }

  /** True iff T ≡ k·S + Σ r over `records` (mod n); compared in constant time. */
  verify(s: bigint, t: bigint, records: Iterable<IndexedRecord>): boolean {
    const expected = (this.#k * s + this.sumOfPads(records)) % this.#n;
    const width = this.#n.toString(16).length;
    const a = Buffer.from(expected.toString(16).padStart(width, '0'));
    const b = Buffer.from((((t % this.#n) + this.#n) % this.#n).toString(16).padStart(width, '0'));
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

function toBig(b: Buffer): bigint {
  return BigInt(`0x${b.toString('hex')}`);
}

/** What an HRV record sends the SP beside its sealed blob. */
export interface AggregateMeta {
  ct: string;
  mac: string;
}

/** The parts of the CSP the aggregate engine uses. */
export interface AggregateDeps {
  db: SqlDb;
  keys: CspKeys;
  spId: string;
  link: SpLink;
  audit: AuditLog;
  /** Where the operator alert goes (the CSP's security logger, once set). */
  alert: (fields: Record<string, unknown>, message: string) => void;
}

/**
 * Builds the Paillier metadata of HRV records, runs aggregate queries at the SP and verifies their MAC, and
 * keeps the durable suspension that a detected forgery sets.
 */
export class Aggregates {
  readonly #deps: AggregateDeps;
  readonly #codec: SlotCodec;
  readonly #paillier: PaillierEncryptor;
  readonly #mac: AggregateMac;

  /** Suspended until `open` has read the durable state: nothing is asked of the SP before. */
  #suspended: { since_ms: number } | undefined = { since_ms: 0 };

  constructor(deps: AggregateDeps) {
    this.#deps = deps;
    const pk = deps.keys.paillier.publicKey;
    this.#codec = new SlotCodec(pk.bitLength);
    this.#paillier = new PaillierEncryptor(pk, deps.keys.paillier.privateKey);
    this.#mac = new AggregateMac(deps.keys.aggregateMacKey, pk.n);
  }

  /** Loads a suspension left by an earlier run (its table: src/csp/schema.ts). */
  async open(): Promise<void> {
    const [row] = await this.#deps.db.query<{ since_ms: number | string }>('SELECT since_ms FROM csp_aggregate_suspension WHERE sp_id = $1', [this.#deps.spId]);
    this.#suspended = row ? { since_ms: Number(row.since_ms) } : undefined;
  }

  /** Since when (ms) aggregates are suspended, or undefined. */
  get suspendedSince(): number | undefined {
    return this.#suspended?.since_ms;
  }

  /** The metadata of the `hrv` record stored at (patient ref, seq): Enc(X) and its MAC Enc(k·X + r). */
  metadata(patientRef: string, seq: number, data: Record<string, unknown>): AggregateMeta {
    // The measures of a validated `hrv` record sit under data.measures (null when the window was too short).
    const measures = (data as unknown as HrvRecordData).measures;
    const values = new Array<bigint>(SLOTS_USED).fill(0n);
    values[RECORD_COUNT_SLOT] = 1n;
    for (const [metric, slot] of Object.entries(SLOT)) {
      const v = measures?.[metric as keyof typeof SLOT];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e9) {
        values[slot] = 1n;
        values[slot + 1] = BigInt(Math.round(v * FIXED_POINT));
      }
    }
    const x = this.#codec.pack(values);
    return { ct: this.#paillier.encrypt(x).toString(16), mac: this.#paillier.encrypt(this.#mac.tag(x, patientRef, seq)).toString(16) };
  }

  /**
   * Mean of `metric` over the HRV records of `patientRefs` in [fromMs, toMs), summed by the SP and verified
   * here. Throws AggregatesSuspendedError without contacting the SP while suspended, and
   * AggregateIntegrityError (after suspending) when the SP's sums fail the MAC.
   */
  async mean(patientRefs: string[], metricTag: string, metric: AggregateMetric, fromMs: number, toMs: number): Promise<{ mean: number | null; n: number }> {
    if (this.#suspended) throw new AggregatesSuspendedError(this.#suspended.since_ms);
    const records = await this.#deps.db.query<{ patient_ref: string; seq: number }>(
      'SELECT patient_ref, seq FROM csp_record_index WHERE has_meta AND patient_ref = ANY($1) AND t_ms >= $2 AND t_ms < $3',
      [patientRefs, fromMs, toMs],
    );
    // More records than the slots' headroom could carry one slot into the next.
    if (records.length >= 2 ** this.#codec.headroomBits) throw new ValidationError('from', `the range holds ${records.length} records, more than one sum can hold; narrow it`);
    const answer = await this.#deps.link.call<{ count?: unknown; ct?: unknown; mac?: unknown }>({ op: 'aggregate', patient_refs: patientRefs, metric_tag: metricTag, from_ms: fromMs, to_ms: toMs });
    if (records.length === 0) {
      if (answer.ct !== null || (answer.mac ?? null) !== null) return this.#forged('a sum over records the CSP never stored', 0);
      return { mean: null, n: 0 };
    }
    const s = this.#decrypt(answer.ct);
    const t = this.#decrypt(answer.mac);
    if (s === undefined || t === undefined) return this.#forged('a missing or malformed sum', records.length);
    if (!this.#mac.verify(s, t, records)) return this.#forged('sums that fail the MAC', records.length);
    const sums = this.#codec.unpack(s, SLOTS_USED);
    // Implied by the MAC for plaintexts the CSP made; kept as a cross-check of the CSP's own index.
    if (sums[RECORD_COUNT_SLOT] !== BigInt(records.length)) return this.#forged('a record count that disagrees with the index', records.length);
    const slot = SLOT[metric];
    const n = Number(sums[slot]);
    return { mean: n > 0 ? Number(sums[slot + 1]) / FIXED_POINT / n : null, n };
  }

  /** Lifts a suspension (an admin's decision, audited and flagged); false if none was set. */
  async resume(actor: string, reason: string): Promise<boolean> {
    const was = this.#suspended;
    await this.#deps.db.query('DELETE FROM csp_aggregate_suspension WHERE sp_id = $1', [this.#deps.spId]);
    this.#suspended = undefined;
    await this.#deps.audit.append({
      actor,
      action: 'aggregate.resume',
      target: `sp:${this.#deps.spId}`,
      outcome: was ? 'ok' : 'denied',
      flagged: true,
      detail: { reason, suspended_since_ms: was?.since_ms ?? null },
    });
    return was !== undefined;
  }

  #decrypt(hex: unknown): bigint | undefined {
    if (typeof hex !== 'string' || !/^[0-9a-f]{1,2048}$/.test(hex)) return undefined;
    const c = BigInt(`0x${hex}`);
    const n = this.#deps.keys.paillier.publicKey.n;
    if (c <= 0n || c >= n * n) return undefined;
    return decryptPlaintext(this.#deps.keys.paillier.privateKey, c);
  }

  // Suspends first (durably), then audits and alerts: no answer, and no retry, reaches the caller or the SP.
  async #forged(problem: string, expectedRecords: number): Promise<never> {
    const since = Date.now();
    await this.#deps.db.query('INSERT INTO csp_aggregate_suspension (sp_id, since_ms, reason) VALUES ($1, $2, $3) ON CONFLICT (sp_id) DO NOTHING', [
      this.#deps.spId,
      since,
      problem,
    ]);
    this.#suspended ??= { since_ms: since };
    await this.#deps.audit.append({
      actor: 'csp',
      action: 'aggregate.integrity_failure',
      target: `sp:${this.#deps.spId}`,
      outcome: 'error',
      flagged: true,
      detail: { problem, expected_records: expectedRecords, suspended: true },
    });
    this.#deps.alert({ alert: 'aggregate_integrity', sp: this.#deps.spId, problem }, 'ALERT: the storage provider forged an aggregate; aggregates are suspended until an admin resumes them');
    throw new AggregateIntegrityError(`the storage provider's aggregate failed its integrity check (${problem}); aggregates are suspended`);
  }
}
