/**
 * The messages that cross the CSP → SP boundary (Protocol I, Phase IV and Protocol II). Handshake
 * messages travel signed but unencrypted; everything else is a SealedMessage whose plaintext is one of
 * the operations below. Both sides validate with these schemas.
 */
import { z } from 'zod';

const ref = z.string().regex(/^[0-9a-f]{32}$/, 'a blind index (32 hex digits)');
const b64 = z.string().regex(/^[A-Za-z0-9_-]*$/, 'base64url').max(16 * 1024 * 1024);
const hexBig = z.string().regex(/^[0-9a-f]{1,2048}$/, 'hex integer');
const ms = z.number().int().min(0).max(8.64e15);

export const spOperationSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('set_paillier_key'), n: hexBig }),
  z.strictObject({ op: z.literal('put_user'), user_ref: ref, version: z.number().int().min(1), blob: b64 }),
  z.strictObject({ op: z.literal('get_user'), user_ref: ref, challenge: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/) }),
  z.strictObject({ op: z.literal('list_users') }),
  z.strictObject({
    op: z.literal('append_record'),
    patient_ref: ref,
    seq: z.number().int().min(1),
    type_tag: ref,
    t_ms: ms,
    blob: b64,
    chain: z.string().regex(/^[0-9a-f]{64}$/),
    meta: z.strictObject({ metric_tag: ref, ct: hexBig, mac: hexBig.optional() }).optional(),
  }),
  // Several records of one patient in one SP transaction, filed under a dedupe key (a blind index the
  // SP cannot open) that the SP keeps unique: a second batch under the same key stores nothing.
  z.strictObject({
    op: z.literal('append_batch'),
    patient_ref: ref,
    dedupe_ref: ref,
    records: z
      .array(
        z.strictObject({
          seq: z.number().int().min(1),
          type_tag: ref,
          t_ms: ms,
          blob: b64,
          chain: z.string().regex(/^[0-9a-f]{64}$/),
          meta: z.strictObject({ metric_tag: ref, ct: hexBig, mac: hexBig.optional() }).optional(),
        }),
      )
      .min(1)
      // An upload: its file, up to 576 windows and 48 hourly beat records.
      .max(640),
  }),
  z.strictObject({ op: z.literal('put_device'), device_ref: ref, version: z.number().int().min(1), blob: b64 }),
  z.strictObject({ op: z.literal('list_devices') }),
  z.strictObject({ op: z.literal('head'), patient_ref: ref }),
  z.strictObject({
    op: z.literal('query_records'),
    patient_ref: ref,
    type_tags: z.array(ref).max(16).optional(),
    from_ms: ms.optional(),
    to_ms: ms.optional(),
    /** Only records after this sequence number (catching up after a crash). */
    after_seq: z.number().int().min(0).optional(),
    /** Only these sequence numbers (one page, chosen from the CSP's own index). */
    seqs: z.array(z.number().int().min(1)).max(10_000).optional(),
    limit: z.number().int().min(1).max(10_000),
  }),
  z.strictObject({
    op: z.literal('aggregate'),
    patient_refs: z.array(ref).min(1).max(10_000),
    metric_tag: ref,
    from_ms: ms,
    to_ms: ms,
  }),
]);

export type SpOperation = z.infer<typeof spOperationSchema>;

/** A stored record as the SP returns it (all opaque to the SP). */
export interface SpRecordRow {
  seq: number;
  type_tag: string;
  t_ms: number;
  blob: string;
  chain: string;
}

/** Which channel direction an operation travels on: writes under K_st, reads under K_rt. */
export function directionOf(op: SpOperation['op']): 'storage' | 'query' {
  return op === 'set_paillier_key' || op === 'put_user' || op === 'append_record' || op === 'append_batch' || op === 'put_device'
    ? 'storage'
    : 'query';
}

export const sealedMessageSchema = z.strictObject({
  key_id: z.string(),
  seq: z.number(),
  nonce: z.string(),
  ct: z.string(),
});

/** A request on the wire. */
export const spWireRequestSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('hello'), hello: z.unknown() }),
  z.strictObject({ kind: z.literal('finish'), finish: z.unknown() }),
  z.strictObject({
    kind: z.literal('sealed'),
    direction: z.enum(['storage', 'query']),
    request_id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
    msg: sealedMessageSchema,
  }),
]);

export type SpWireRequest = z.infer<typeof spWireRequestSchema>;

/** An answer on the wire; `error` answers are unauthenticated, so the CSP treats them only as hints. */
export type SpWireResponse =
  | { kind: 'reply'; reply: unknown }
  | { kind: 'ok'; key_id: string }
  | { kind: 'sealed'; msg: z.infer<typeof sealedMessageSchema> }
  | { kind: 'error'; code: 'integrity' | 'replay' | 'no_session' | 'bad_request'; message: string };

/** How a CSP reaches an SP: in-process or over HTTP; only ever carries SpWire messages. */
export interface SpTransport {
  send(request: SpWireRequest): Promise<SpWireResponse>;
}

/** The record filter of a `query_records` operation. */
export type RecordFilter = Omit<Extract<SpOperation, { op: 'query_records' }>, 'op'>;

/**
 * The SQL tail (`WHERE … ORDER BY seq LIMIT …`) and parameters that select a filter's records from a
 * table with columns patient_ref, type_tag, t_ms, seq. The SP answers with it and the CSP checks the
 * answer against its own index with it, so both select by exactly the same rule.
 */
export function recordFilterSql(f: RecordFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = [f.patient_ref];
  let where = 'patient_ref = $1';
  if (f.type_tags?.length) {
    params.push(f.type_tags);
    where += ` AND type_tag = ANY($${params.length})`;
  }
  if (f.from_ms !== undefined) {
    params.push(f.from_ms);
    where += ` AND t_ms >= $${params.length}`;
  }
  if (f.to_ms !== undefined) {
    params.push(f.to_ms);
    where += ` AND t_ms < $${params.length}`;
  }
  if (f.after_seq !== undefined) {
    params.push(f.after_seq);
    where += ` AND seq > $${params.length}`;
  }
  if (f.seqs !== undefined) {
    params.push(f.seqs);
    where += ` AND seq = ANY($${params.length})`;
  }
  params.push(f.limit);
  return { sql: `WHERE ${where} ORDER BY seq LIMIT $${params.length}`, params };
}
