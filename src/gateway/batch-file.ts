/**
 * The gateway's file formats on the wire: sealing one patient's batch for the attested enclave (or the plain-mode
 * baseline) and opening one result file. The gateway uses these; so does the pipeline benchmark's load generator,
 * so that what it measures is the gateway's real per-file cost, not a look-alike.
 */
import {
  decodePlainFile,
  encodePlainFile,
  envelopeVersionOf,
  EnvelopeError,
  EPOCH_ENVELOPE_VERSION,
  keyIdOf,
  openEnvelope,
  openEpochEnvelope,
  sealEnvelope,
  sealEpochEnvelope,
  type EnvelopeHeader,
} from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import { formatRrCsv } from '../hrv/index.js';
import type { GatewayEpochs } from './epoch-keys.js';

/** Beats of one patient's batch, already pseudonymised: times and intervals in ms. */
export interface BatchToSeal {
  pseudonym: string;
  seq: number;
  tStartMs: number;
  tEndMs: number;
  beats: readonly { t: number; r: number }[];
}

export interface BatchSealerOptions {
  gatewayId: string;
  mode: 'secure' | 'plain';
  /** Ed25519 seed of the gateway (secure mode). */
  signingPrivateKey: Uint8Array;
  /** Plaintext sizes (bytes) are padded up to the next bucket. */
  bucketBytes: readonly number[];
  /** The gateway's epoch secrets: secure mode seals version 2 (per-epoch public-key work) under them. */
  epochs?: GatewayEpochs | undefined;
  /** 1: the per-file HPKE + Ed25519 envelope (kept for tests and old enclaves); default 2, the epoch envelope. */
  sealVersion?: 1 | 2 | undefined;
}

/** Names a batch file: `<pseudonym>-<seq padded to 10>.hrve` (secure) or `.hrvp` (plain). */
export function batchFileName(pseudonym: string, seq: number, mode: 'secure' | 'plain'): string {
  return `${pseudonym}-${String(seq).padStart(10, '0')}.${mode === 'secure' ? 'hrve' : 'hrvp'}`;
}

/** Encodes one batch as the file the gateway uploads: sealed to `enclavePublicKey` in secure mode (required there). */
export function encodeBatchFile(o: BatchSealerOptions, b: BatchToSeal, enclavePublicKey: Uint8Array | undefined): { name: string; bytes: Uint8Array } {
  const csv = Buffer.from(formatRrCsv({ tMs: Float64Array.from(b.beats, (x) => x.t), rrMs: Float64Array.from(b.beats, (x) => x.r) }));
  const name = batchFileName(b.pseudonym, b.seq, o.mode);
  if (o.mode === 'secure' && enclavePublicKey === undefined) throw new HrvaultError('HRV_ERR_UPLOAD', 'no attested enclave key to seal to');
  const header: EnvelopeHeader = {
    v: 1,
    kind: 'rr-batch',
    gateway: o.gatewayId,
    patient: b.pseudonym,
    seq: b.seq,
    t_start_ms: b.tStartMs,
    t_end_ms: b.tEndMs,
    key_id: o.mode === 'plain' ? 'plain' : keyIdOf(enclavePublicKey!),
  };
  if (o.mode === 'plain') return { name, bytes: encodePlainFile(header, csv) };
  const bucket = (n: number): number => o.bucketBytes.find((x) => x >= n) ?? n;
  if (o.sealVersion === 1) return { name, bytes: sealEnvelope(enclavePublicKey!, header, csv, o.signingPrivateKey, { padTo: bucket }) };
  if (o.epochs === undefined) throw new HrvaultError('HRV_ERR_UPLOAD', 'no epoch secrets to seal a version-2 file under');
  // forNextFile makes a new epoch's secret durable before returning: no file under it exists before that.
  return { name, bytes: sealEpochEnvelope(o.epochs.forNextFile({ publicKey: enclavePublicKey! }), header, csv, { padTo: bucket }) };
}

/**
 * Opens a result file addressed to gateway `gatewayId`. In secure mode: version 2 under the stored secret of the epoch
 * it names (only the enclave holding the attested key that epoch was encapsulated to can have learnt it); version 1
 * sealed to `hpkePrivateKey`'s public half and signed by one of `signers` (enclave signing keys this gateway attested,
 * newest first). Throws EnvelopeError or HRV_ERR_RESULT naming the problem; the body is not yet checked against its
 * contract (parseResultBody does that).
 */
export function openResultFile(
  o: { gatewayId: string; mode: 'secure' | 'plain'; hpkePrivateKey: Uint8Array; epochs?: GatewayEpochs | undefined },
  bytes: Uint8Array,
  signers: readonly Uint8Array[],
): { header: EnvelopeHeader; text: string } {
  if (o.mode === 'plain') {
    const decoded = decodePlainFile(bytes);
    if (decoded.header.kind !== 'hrv-result' || decoded.header.gateway !== o.gatewayId)
      throw new HrvaultError('HRV_ERR_RESULT', `plain result file is a ${decoded.header.kind} for ${decoded.header.gateway}`);
    return { header: decoded.header, text: Buffer.from(decoded.body).toString('utf8') };
  }
  if (envelopeVersionOf(bytes) === EPOCH_ENVELOPE_VERSION) {
    const epochs = o.epochs;
    if (epochs === undefined) throw new EnvelopeError('HRV_ERR_ENVELOPE_EPOCH', 'a version-2 result, but this gateway keeps no epoch secrets');
    const opened = openEpochEnvelope(bytes, (p) => epochs.forResult(p.block.gateway, p.block.idHex), { expectedKind: 'hrv-result' });
    if (opened.header.gateway !== o.gatewayId) throw new HrvaultError('HRV_ERR_RESULT', `result addressed to gateway ${opened.header.gateway}`);
    return { header: opened.header, text: Buffer.from(opened.plaintext).toString('utf8') };
  }
  let last: unknown = new EnvelopeError('HRV_ERR_ENVELOPE_SIGNATURE', 'no enclave key attested yet');
  for (const k of signers) {
    try {
      const opened = openEnvelope(o.hpkePrivateKey, bytes, { expectedKind: 'hrv-result', senderKey: () => k });
      if (opened.header.gateway !== o.gatewayId) throw new HrvaultError('HRV_ERR_RESULT', `result addressed to gateway ${opened.header.gateway}`);
      return { header: opened.header, text: Buffer.from(opened.plaintext).toString('utf8') };
    } catch (err) {
      if (!(err instanceof EnvelopeError && err.code === 'HRV_ERR_ENVELOPE_SIGNATURE')) throw err;
      last = err;
    }
  }
  throw last;
}
