/**
 * The storage provider (SP): untrusted storage that keeps user entries and patient records as ciphertext,
 * append-only per patient, and adds Paillier ciphertexts for aggregate queries. It holds the session keys
 * of the current handshake and the Paillier PUBLIC key only; nothing it stores or receives opens without
 * keys that stay at the CSP.
 */
import type { KeyObject } from 'node:crypto';
import { ChannelIntegrityError, ChannelReceiver, ChannelReplayError, ChannelSender } from '../crypto/index.js';
import { HandshakeError, HandshakeResponder, type IdentityKeyPair } from '../crypto/index.js';
import { addCiphertexts, importPaillierPublicKey } from '../crypto/index.js';
import type { PublicKey } from 'paillier-bigint';
import { chainLink, CHAIN_GENESIS } from '../protocol/index.js';
import { bytes, migrate, validateMigrations, type SqlDb, type SqlTx } from '../sql/index.js';
import {
  directionOf,
  recordFilterSql,
  spOperationSchema,
  spWireRequestSchema,
  type SpOperation,
  type SpRecordRow,
  type SpWireResponse,
} from '../protocol/index.js';

// Migration 1 is the DDL every SP ran at start before migrations existed, byte for byte and still IF NOT EXISTS,
// so a database that code created is adopted as version 1 as it is. Released migrations are never edited (their
// checksum is in every database they ran on): a change of schema is a new entry at the end.
const INITIAL_SCHEMA = `
CREATE TABLE IF NOT EXISTS sp_config (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sp_users (user_ref TEXT PRIMARY KEY, version INTEGER NOT NULL, blob BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS sp_records (
  patient_ref TEXT NOT NULL, seq INTEGER NOT NULL, type_tag TEXT NOT NULL, t_ms BIGINT NOT NULL,
  blob BYTEA NOT NULL, chain BYTEA NOT NULL, PRIMARY KEY (patient_ref, seq));
CREATE INDEX IF NOT EXISTS sp_records_time ON sp_records (patient_ref, type_tag, t_ms);
CREATE TABLE IF NOT EXISTS sp_metadata (
  patient_ref TEXT NOT NULL, seq INTEGER NOT NULL, metric_tag TEXT NOT NULL, t_ms BIGINT NOT NULL, ct TEXT NOT NULL,
  PRIMARY KEY (patient_ref, seq, metric_tag));
CREATE INDEX IF NOT EXISTS sp_metadata_time ON sp_metadata (metric_tag, t_ms);
ALTER TABLE sp_metadata ADD COLUMN IF NOT EXISTS mac TEXT;
CREATE TABLE IF NOT EXISTS sp_devices (device_ref TEXT PRIMARY KEY, version INTEGER NOT NULL, blob BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS sp_dedupe (dedupe_ref TEXT PRIMARY KEY, patient_ref TEXT NOT NULL, first_seq INTEGER NOT NULL);
`;

/** The SP's schema, component `sp` in the database's schema_migrations. */
export const SP_MIGRATIONS = validateMigrations('sp', [{ version: 1, name: 'initial tables', up: INITIAL_SCHEMA }]);

interface Session {
  keyId: string;
  storage: ChannelReceiver;
  query: ChannelReceiver;
  answer: ChannelSender;
}

/** Options of the SP: its identity, the pinned CSP identity, and its database. */
export interface SpServiceOptions {
  identity: IdentityKeyPair;
  csp: { id: string; publicKey: KeyObject };
  db: SqlDb;
  /** Accept concurrent requests up to this many sequence numbers out of order (0: strict order). */
  reorderWindow?: number;
}

/** Operation answers travel sealed; failures inside a valid session are answered sealed too. */
type OpAnswer = { ok: true; [k: string]: unknown } | { ok: false; code: 'conflict' | 'not_found' | 'bad_request'; message: string };

export class SpService {
  readonly #opts: SpServiceOptions;
  #pending: HandshakeResponder | undefined;
  #session: Session | undefined;
  #paillier: PublicKey | undefined;
  /** Counters for reports and tests. */
  readonly stats = { requests: 0, integrityFailures: 0, replays: 0, handshakes: 0 };

  private constructor(opts: SpServiceOptions) {
    this.#opts = opts;
  }

  /** Opens the SP on its database, migrating its schema to this code's (refused when the database's is newer). */
  static async create(opts: SpServiceOptions): Promise<SpService> {
    await migrate(opts.db, 'sp', SP_MIGRATIONS);
    const sp = new SpService(opts);
    const [row] = await opts.db.query<{ value: string }>("SELECT value FROM sp_config WHERE name = 'paillier_n'");
    if (row) sp.#paillier = importPaillierPublicKey({ n: row.value });
    return sp;
  }

  /** Handles one wire request; never throws for bad input, answers with an error instead. */
  async handle(raw: unknown): Promise<SpWireResponse> {
    this.stats.requests++;
    const parsed = spWireRequestSchema.safeParse(raw);
    if (!parsed.success) return { kind: 'error', code: 'bad_request', message: describe(parsed.error) };
    const req = parsed.data;
    try {
      if (req.kind === 'hello') {
        this.#pending = new HandshakeResponder(this.#opts.identity, this.#opts.csp);
        return { kind: 'reply', reply: this.#pending.reply(req.hello) };
      }
      if (req.kind === 'finish') {
        const responder = this.#pending;
        this.#pending = undefined;
        if (!responder) return { kind: 'error', code: 'bad_request', message: 'finish without hello' };
        const keys = responder.complete(req.finish);
        const window = { reorderWindow: this.#opts.reorderWindow ?? 0 };
        this.#session = {
          keyId: keys.keyId,
          storage: new ChannelReceiver(keys.keyId, keys.kSt, 'storage', window),
          query: new ChannelReceiver(keys.keyId, keys.kRt, 'query', window),
          answer: new ChannelSender(keys.keyId, keys.kRt, 'answer'),
        };
        this.stats.handshakes++;
        return { kind: 'ok', key_id: keys.keyId };
      }
      const session = this.#session;
      if (!session) return { kind: 'error', code: 'no_session', message: 'no session keys: run the handshake' };
      const receiver = req.direction === 'storage' ? session.storage : session.query;
      let plaintext: Buffer;
      try {
        plaintext = receiver.open(req.msg, req.request_id);
      } catch (err) {
        if (err instanceof ChannelReplayError) {
          this.stats.replays++;
          return { kind: 'error', code: err.message.includes('expected') ? 'no_session' : 'replay', message: err.message };
        }
        if (err instanceof ChannelIntegrityError) {
          this.stats.integrityFailures++;
          return { kind: 'error', code: 'integrity', message: err.message };
        }
        throw err;
      }
      const answer = await this.#operate(plaintext, req.direction);
      return { kind: 'sealed', msg: session.answer.seal(Buffer.from(JSON.stringify(answer)), req.request_id) };
    } catch (err) {
      if (err instanceof HandshakeError) return { kind: 'error', code: 'bad_request', message: err.message };
      throw err;
    }
  }

  async #operate(plaintext: Buffer, direction: 'storage' | 'query'): Promise<OpAnswer> {
    let json: unknown;
    try {
      json = JSON.parse(plaintext.toString('utf8'));
    } catch {
      return { ok: false, code: 'bad_request', message: 'operation is not JSON' };
    }
    const parsed = spOperationSchema.safeParse(json);
    if (!parsed.success) return { ok: false, code: 'bad_request', message: describe(parsed.error) };
    const op = parsed.data;
    if (directionOf(op.op) !== direction) return { ok: false, code: 'bad_request', message: `${op.op} is not a ${direction} operation` };
    return this.#run(op);
  }

  async #run(op: SpOperation): Promise<OpAnswer> {
    const db = this.#opts.db;
    switch (op.op) {
      case 'set_paillier_key': {
        await db.query(
          "INSERT INTO sp_config (name, value) VALUES ('paillier_n', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
          [op.n],
        );
        this.#paillier = importPaillierPublicKey({ n: op.n });
        return { ok: true };
      }
      case 'put_user': {
        const rows = await db.query<{ version: number }>(
          `INSERT INTO sp_users (user_ref, version, blob) VALUES ($1, $2, $3)
           ON CONFLICT (user_ref) DO UPDATE SET version = EXCLUDED.version, blob = EXCLUDED.blob
           WHERE sp_users.version < EXCLUDED.version RETURNING version`,
          [op.user_ref, op.version, Buffer.from(op.blob, 'base64url')],
        );
        return rows.length === 1 ? { ok: true } : { ok: false, code: 'conflict', message: 'a newer version of this user is stored' };
      }
      case 'get_user': {
        const [row] = await db.query<{ version: number; blob: unknown }>('SELECT version, blob FROM sp_users WHERE user_ref = $1', [op.user_ref]);
        if (!row) return { ok: false, code: 'not_found', message: 'no such user' };
        return { ok: true, challenge: op.challenge, version: row.version, blob: bytes(row.blob).toString('base64url') };
      }
      case 'list_users': {
        const rows = await db.query<{ user_ref: string; version: number; blob: unknown }>('SELECT user_ref, version, blob FROM sp_users');
        return { ok: true, users: rows.map((r) => ({ user_ref: r.user_ref, version: r.version, blob: bytes(r.blob).toString('base64url') })) };
      }
      case 'append_record':
        return this.#append(op);
      case 'append_batch':
        return this.#appendBatch(op);
      case 'put_device': {
        const rows = await db.query<{ version: number }>(
          `INSERT INTO sp_devices (device_ref, version, blob) VALUES ($1, $2, $3)
           ON CONFLICT (device_ref) DO UPDATE SET version = EXCLUDED.version, blob = EXCLUDED.blob
           WHERE sp_devices.version < EXCLUDED.version RETURNING version`,
          [op.device_ref, op.version, Buffer.from(op.blob, 'base64url')],
        );
        return rows.length === 1 ? { ok: true } : { ok: false, code: 'conflict', message: 'a newer version of this device is stored' };
      }
      case 'list_devices': {
        const rows = await db.query<{ device_ref: string; version: number; blob: unknown }>('SELECT device_ref, version, blob FROM sp_devices');
        return { ok: true, devices: rows.map((r) => ({ device_ref: r.device_ref, version: r.version, blob: bytes(r.blob).toString('base64url') })) };
      }
      case 'head': {
        const [row] = await db.query<{ seq: number; chain: unknown }>(
          'SELECT seq, chain FROM sp_records WHERE patient_ref = $1 ORDER BY seq DESC LIMIT 1',
          [op.patient_ref],
        );
        return { ok: true, seq: row?.seq ?? 0, chain: row ? bytes(row.chain).toString('hex') : CHAIN_GENESIS.toString('hex') };
      }
      case 'query_records': {
        const { sql, params } = recordFilterSql(op);
        const rows = await db.query<{ seq: number; type_tag: string; t_ms: string | number; blob: unknown; chain: unknown }>(
          `SELECT seq, type_tag, t_ms, blob, chain FROM sp_records ${sql}`,
          params,
        );
        const records: SpRecordRow[] = rows.map((r) => ({
          seq: r.seq,
          type_tag: r.type_tag,
          t_ms: Number(r.t_ms),
          blob: bytes(r.blob).toString('base64url'),
          chain: bytes(r.chain).toString('hex'),
        }));
        return { ok: true, records };
      }
      case 'aggregate': {
        const pk = this.#paillier;
        if (!pk) return { ok: false, code: 'bad_request', message: 'no Paillier public key registered' };
        const rows = await db.query<{ ct: string; mac: string | null }>(
          'SELECT ct, mac FROM sp_metadata WHERE metric_tag = $1 AND patient_ref = ANY($2) AND t_ms >= $3 AND t_ms < $4',
          [op.metric_tag, op.patient_refs, op.from_ms, op.to_ms],
        );
        if (rows.length === 0) return { ok: true, count: 0, ct: null, mac: null };
        const sum = addCiphertexts(pk, rows.map((r) => BigInt(`0x${r.ct}`)));
        // The MAC ciphertexts add up the same way; the CSP checks the two sums against each other.
        const macs = rows.map((r) => r.mac);
        const mac = macs.every((m): m is string => m !== null) ? addCiphertexts(pk, macs.map((m) => BigInt(`0x${m}`))).toString(16) : null;
        return { ok: true, count: rows.length, ct: sum.toString(16), mac };
      }
    }
  }

  async #append(op: Extract<SpOperation, { op: 'append_record' }>): Promise<OpAnswer> {
    return this.#opts.db.transaction(async (tx) => {
      const head = await lockedHead(tx, op.patient_ref);
      const r = await insertRecord(tx, op, head.seq + 1, head.chain);
      return 'refused' in r ? ({ ok: false, code: 'conflict', message: r.refused } as const) : ({ ok: true } as const);
    });
  }

  // All records of the batch, and its dedupe key, commit together or not at all. A key already stored
  // answers `duplicate` (with the first sequence number it was stored at) and changes nothing.
  async #appendBatch(op: Extract<SpOperation, { op: 'append_batch' }>): Promise<OpAnswer> {
    const [known] = await this.#opts.db.query<{ first_seq: number }>('SELECT first_seq FROM sp_dedupe WHERE dedupe_ref = $1', [op.dedupe_ref]);
    if (known) return { ok: true, duplicate: true, first_seq: known.first_seq };
    try {
      return await this.#opts.db.transaction(async (tx) => {
        const head = await lockedHead(tx, op.patient_ref);
        const inserted = await tx.query('INSERT INTO sp_dedupe (dedupe_ref, patient_ref, first_seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING dedupe_ref', [
          op.dedupe_ref,
          op.patient_ref,
          op.records[0]!.seq,
        ]);
        if (inserted.length === 0) return { ok: true, duplicate: true } as const;
        let seq = head.seq;
        let previous = head.chain;
        for (const rec of op.records) {
          const r = await insertRecord(tx, { ...rec, patient_ref: op.patient_ref }, seq + 1, previous);
          if ('refused' in r) throw new BatchRefused(r.refused);
          seq = rec.seq;
          previous = r.chain;
        }
        return { ok: true, duplicate: false } as const;
      });
    } catch (err) {
      if (err instanceof BatchRefused) return { ok: false, code: 'conflict', message: err.message };
      throw err;
    }
  }
}

/** Rolls a batch back from inside its transaction. */
class BatchRefused extends Error {}

async function lockedHead(tx: SqlTx, patientRef: string): Promise<{ seq: number; chain: Buffer }> {
  const [head] = await tx.query<{ seq: number; chain: unknown }>(
    'SELECT seq, chain FROM sp_records WHERE patient_ref = $1 ORDER BY seq DESC LIMIT 1 FOR UPDATE',
    [patientRef],
  );
  return head ? { seq: head.seq, chain: bytes(head.chain) } : { seq: 0, chain: CHAIN_GENESIS };
}

type RecordInsert = {
  patient_ref: string;
  seq: number;
  type_tag: string;
  t_ms: number;
  blob: string;
  chain: string;
  meta?: { metric_tag: string; ct: string; mac?: string | undefined } | undefined;
};

/** Checks that `op` extends the stored chain at `previous`/`expectedSeq` and inserts it; a reason on refusal. */
async function insertRecord(tx: SqlTx, op: RecordInsert, expectedSeq: number, previous: Buffer): Promise<{ chain: Buffer } | { refused: string }> {
  const blob = Buffer.from(op.blob, 'base64url');
  const chain = Buffer.from(op.chain, 'hex');
  if (op.seq !== expectedSeq) return { refused: `append-only: next sequence number is ${expectedSeq}` };
  if (!chainLink(previous, op.seq, blob).equals(chain)) return { refused: 'hash chain does not extend the stored head' };
  await tx.query('INSERT INTO sp_records (patient_ref, seq, type_tag, t_ms, blob, chain) VALUES ($1, $2, $3, $4, $5, $6)', [
    op.patient_ref,
    op.seq,
    op.type_tag,
    op.t_ms,
    blob,
    chain,
  ]);
  if (op.meta) {
    await tx.query('INSERT INTO sp_metadata (patient_ref, seq, metric_tag, t_ms, ct, mac) VALUES ($1, $2, $3, $4, $5, $6)', [
      op.patient_ref,
      op.seq,
      op.meta.metric_tag,
      op.t_ms,
      op.meta.ct,
      op.meta.mac ?? null,
    ]);
  }
  return { chain };
}

function describe(error: { issues: Array<{ path: PropertyKey[]; message: string }> }): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || 'request'}: ${issue.message}` : 'invalid request';
}
