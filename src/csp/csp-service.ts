/**
 * The cloud service provider (CSP): the only door to stored records. It registers and authenticates
 * users (Protocol I, Phases II–III), enforces roles (policy.ts), seals records and user entries before
 * they reach the SP (Protocol II, Phase I), verifies everything the SP returns (Phase II), decrypts Paillier
 * aggregates, and writes every access and key event to the audit log.
 */
import { EventEmitter } from 'node:events';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { exportPaillierPublicKey } from '../crypto/index.js';
import { Aggregates, type AggregateMeta } from './aggregates.js';
import { AuditLog, type AuditAnchor, type AuditEntry, type AuditEvent, type AuditVerification } from './audit.js';
import { SpLink, SpRequestError } from '../protocol/index.js';
import type { CspKeys } from './csp-keys.js';
import { AuthError, ConflictError, ForbiddenError, GrantStateError, NotFoundError, SelfApprovalError, ThrottledError, UnknownReferenceError, ValidationError } from './errors.js';
import { enrolmentCodePart, GrantStore, type Grant, type GrantState } from './grants.js';
import { canSeePatient, decideAdmin, decideApproval, decideBreakGlass, decideIngest, decideWrite, RECORD_TYPES, type Principal, type RecordType } from './policy.js';
import {
  DEVICE_AUTH_REFUSED,
  DeviceAuthError,
  DeviceRateLimiter,
  deviceRecordSchema,
  deviceRegistrationSchema,
  JtiStore,
  verifyDeviceToken,
  type DeviceRecord,
} from './devices.js';
import {
  ContractError,
  parseContract,
  ingestRequestSchema,
  parseRecordData,
  recordsFromResult,
  type AlertAckData,
  type EcgFileData,
  type IngestAnswer,
  type RrFileData,
} from '../contracts/index.js';
import { analyseEcgUpload, analyseRrUpload } from './uploads.js';
import { EMPTY_SUMMARY, onsetKey, openAlerts, SummaryStore } from './summaries.js';
import { blindIndex, openRecord, RecordIntegrityError, sealRecord } from './record-crypto.js';
import { chainLink, CHAIN_GENESIS } from '../protocol/index.js';
import { recordFilterSql, type SpRecordRow, type SpTransport } from '../protocol/index.js';
import { migrate, tableExists, type SqlDb } from '../sql/index.js';
import { CSP_MIGRATIONS } from './schema.js';
import { AGGREGATE_METRICS, type AggregateMetric, type ClinicalRecord } from './vocabulary.js';
import { ACCESS_TOKEN_TTL_S, RefreshTokenStore, signAccessToken, verifyAccessToken } from './tokens.js';
import { DEFAULT_LOGIN_LIMITS, LoginThrottle, type LoginThrottleLimits } from './login-throttle.js';
import { hashPassword, passwordProblem, userRecordSchema, verifyPassword, type Role, type UserRecord } from './users.js';
import type { KeyObject } from 'node:crypto';
import { failpoint } from '../failpoints/index.js';
import { HighWaterMarks, SpRollbackError, type TrackedKind } from './freshness.js';

export type { ClinicalRecord } from './vocabulary.js';

/** Records answer with the ones that failed verification listed, never silently dropped. */
export interface RecordsAnswer {
  /** Records matching the filter (all pages). */
  total: number;
  records: RecordView[];
  integrity_failures: Array<{ seq: number; reason: string }>;
}

/** A record as readers get it: with its author's display name (not stored; looked up when read). */
export type RecordView = ClinicalRecord & { author_name: string };

/** Sort keys of the patient list. */
export const PATIENT_SORTS = ['name', 'hr', 'sdnn', 'rmssd', 'last_data', 'alerts'] as const;
export type PatientSort = (typeof PATIENT_SORTS)[number];

/** One row of the patient list. */
export interface PatientListItem {
  patient_id: string;
  display_name: string;
  latest: { t_ms: number; mean_hr_bpm: number | null; sdnn_ms: number | null; rmssd_ms: number | null } | null;
  last_data_ms: number | null;
  open_alerts: number;
}

/** A user as shown to callers (no verifier). */
export type UserView = Omit<UserRecord, 'verifier'>;

export { AGGREGATE_METRICS, type AggregateMetric } from './vocabulary.js';

export interface CspServiceOptions {
  keys: CspKeys;
  /** The CSP's own state: audit log, refresh tokens, chain heads. */
  db: SqlDb;
  sp: { id: string; publicKey: KeyObject; transport: SpTransport };
  auditAnchor: AuditAnchor;
  /** Failed-login throttling (defaults: 5 per account and address, 20 per address, 100 per account from unknown addresses, per 15 min). */
  throttle?: LoginThrottleLimits;
  renewalLimit?: { max: number; windowMs: number };
  /** Requests per device (gateway) credential (default 120 per minute, bursts of 30). */
  deviceRateLimit?: { perMinute: number; burst: number };
  /** Where security events are logged server-side (pino-shaped; the HTTP edge passes its logger). */
  logger?: SecurityLogger;
  /**
   * People a grant of access needs, the requester included (`access.grantApprovals`, default 2: one admin
   * requests, another approves). 1 lets one admin grant alone: for a single-admin deployment only; the CSP
   * then warns at every start and says so in the audit log.
   */
  grantApprovals?: number;
}

/** The part of a pino/fastify logger the CSP uses. */
export interface SecurityLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** A record sealed and linked, as it goes to the SP. */
interface SealedRow {
  seq: number;
  type_tag: string;
  t_ms: number;
  blob: string;
  chain: string;
  meta?: { metric_tag: string } & AggregateMeta;
}

/** A row of the CSP's own index of what the SP stores. */
interface IndexRow {
  seq: number;
  type_tag: string;
  t_ms: number;
  chain: string;
  has_meta: boolean;
}

/** Records indexed together under the one audit entry that accounts for them. */
interface IndexGroup {
  event: AuditEvent;
  rows: IndexRow[];
  records: ClinicalRecord[];
  idem?: { ref: string; hash: string };
}

/** What one append stores and how it is accounted for. */
interface AppendPlan {
  records: ClinicalRecord[];
  /** A blind key the SP keeps under a unique constraint: a second append under it stores nothing. */
  dedupe?: string;
  /** The caller's idempotency key (blind) and the hash of the request it came with. */
  idem?: { ref: string; hash: string };
  /** The entry that accounts for the records, committed with their index rows. */
  event: AuditEvent;
}

type AppendResult = { stored: true } | { stored: false; firstSeq: number | undefined };

/** What the intent row keeps beside the heads, to finish the append without its caller. */
interface IntentBody {
  event: AuditEvent;
  idem?: { ref: string; hash: string };
}

// A verifier for a password nobody has, so unknown usernames cost the same time as known ones.
let dummyVerifier: Promise<string> | undefined;

/** A verifier for a password nobody has: the verifier of accounts that must enrol before they log in. */
function unusableVerifier(): Promise<string> {
  dummyVerifier ??= hashPassword(randomBytes(32).toString('hex'));
  return dummyVerifier;
}

/** What an admin (or the bootstrap) gives to register a user. */
export interface UserInput {
  username: string;
  /** Bootstrap: the password. An admin's request: that admin's part of the enrolment code. */
  password: string;
  role: Role;
  display_name?: string;
  patient_id?: string;
  patients?: string[];
}

export class CspService {
  readonly link: SpLink;
  readonly audit: AuditLog;
  readonly #keys: CspKeys;
  readonly #db: SqlDb;
  readonly #refresh: RefreshTokenStore;
  readonly #users = new Map<string, UserRecord>();
  readonly #byUsername = new Map<string, string>();
  readonly #aggregates: Aggregates;
  readonly #throttle: LoginThrottle;
  readonly #appendLocks = new Map<string, Promise<unknown>>();
  /** Patients with an intent row in the CSP's database (loaded at start-up): the others skip the lookup. */
  readonly #pendingIntents = new Set<string>();
  readonly #devices = new Map<string, DeviceRecord>();
  readonly #jtis: JtiStore;
  readonly #summaries: SummaryStore;
  readonly #deviceLimiter: DeviceRateLimiter;
  readonly #marks: HighWaterMarks;
  readonly #grants: GrantStore;
  readonly #grantApprovals: number;
  #logger: SecurityLogger | undefined;
  /** Emits 'record' with {patient_id, record} after every append, for live updates. */
  readonly events = new EventEmitter();

  private constructor(opts: CspServiceOptions, audit: AuditLog, refresh: RefreshTokenStore, jtis: JtiStore, summaries: SummaryStore, marks: HighWaterMarks, grants: GrantStore) {
    this.#keys = opts.keys;
    this.#marks = marks;
    this.#grants = grants;
    this.#grantApprovals = opts.grantApprovals ?? 2;
    this.#jtis = jtis;
    this.#summaries = summaries;
    this.#deviceLimiter = new DeviceRateLimiter(opts.deviceRateLimit ?? { perMinute: 120, burst: 30 });
    this.#logger = opts.logger;
    this.#db = opts.db;
    this.audit = audit;
    this.#refresh = refresh;
    this.#throttle = new LoginThrottle(opts.throttle ?? DEFAULT_LOGIN_LIMITS);
    this.events.setMaxListeners(0);
    this.link = new SpLink({
      identity: opts.keys.identity,
      sp: { id: opts.sp.id, publicKey: opts.sp.publicKey },
      transport: opts.sp.transport,
      renewalLimit: opts.renewalLimit,
      onKeyEvent: async (e) => {
        await this.audit.append({ actor: 'csp', action: e.action, outcome: e.action === 'key.renewal_refused' ? 'denied' : 'ok', detail: e.detail });
      },
    });
    this.#aggregates = new Aggregates({
      db: opts.db,
      keys: opts.keys,
      spId: opts.sp.id,
      link: this.link,
      audit,
      alert: (fields, message) => this.#logger?.warn(fields, message),
    });
  }

  /** Starts the CSP: opens its state, runs the handshake, registers the Paillier public key, loads users. */
  static async create(opts: CspServiceOptions): Promise<CspService> {
    // The audit log is brand-new only if its table did not exist before this start: look before migrating.
    const auditIsNew = !(await tableExists(opts.db, 'csp_audit'));
    await migrate(opts.db, 'csp', CSP_MIGRATIONS);
    const audit = await AuditLog.open(opts.db, opts.keys.auditKey, opts.auditAnchor, { isNew: auditIsNew });
    const refresh = await RefreshTokenStore.open(opts.db);
    const jtis = await JtiStore.open(opts.db);
    const summaries = await SummaryStore.open(opts.db, opts.keys.kek);
    const grants = await GrantStore.open(opts.db);
    const approvals = opts.grantApprovals ?? 2;
    if (!Number.isInteger(approvals) || approvals < 1 || approvals > 16) throw new ValidationError('grantApprovals', 'must be a whole number from 1 to 16');
    const marks = await HighWaterMarks.open(opts.db);
    const csp = new CspService(opts, audit, refresh, jtis, summaries, marks, grants);
    await csp.#aggregates.open();
    if (approvals === 1) {
      // Allowed only when set explicitly; every start says so, loudly and durably.
      const message = 'access.grantApprovals is 1: one admin alone can grant access to clinical data (the two-person rule is off)';
      if (opts.logger) opts.logger.warn({ grant_approvals: 1 }, message);
      else process.emitWarning(message, { code: 'HRVAULT_SINGLE_PERSON_GRANTS' });
      await audit.append({ actor: 'csp', action: 'access.single_person_grants', outcome: 'ok', flagged: true, detail: { clinical_access: true, grant_approvals: 1 } });
    }
    await csp.link.connect();
    await csp.link.call({ op: 'set_paillier_key', n: exportPaillierPublicKey(opts.keys.paillier.publicKey).n });
    await csp.#loadUsers();
    await csp.#loadDevices();
    // Before any request: finish or drop appends a stopped CSP left half-done, then rebuild lost summaries.
    await csp.#recoverIntents();
    await csp.#rebuildSummaries();
    return csp;
  }

  /** Sets the server-side logger of security events (the HTTP edge's, once it exists). */
  useLogger(logger: SecurityLogger): void {
    this.#logger = logger;
  }

  #deviceRef(deviceId: string): string {
    return blindIndex(this.#keys.indexKey, 'device', deviceId);
  }

  async #loadDevices(): Promise<void> {
    const answer = await this.link.call<{ devices: Array<{ device_ref: string; version: number; blob: string }> }>({ op: 'list_devices' });
    const seen = new Set<string>();
    for (const d of answer.devices) {
      seen.add(d.device_ref);
      try {
        const plain = openRecord(this.#keys.kek, entryContext('device', d.device_ref, d.version), Buffer.from(d.blob, 'base64url'));
        const parsed = deviceRecordSchema.safeParse(JSON.parse(plain.toString('utf8')));
        if (!parsed.success || this.#deviceRef(parsed.data.device_id) !== d.device_ref || parsed.data.version !== d.version) {
          throw new RecordIntegrityError('stored device entry does not match');
        }
        // A revoked gateway's older (active) entry served back must not re-enable it: the device stays out.
        if (!(await this.#fresh('device', d.device_ref, d.version))) continue;
        const known = this.#devices.get(parsed.data.device_id);
        if (!known || known.version < parsed.data.version) this.#devices.set(parsed.data.device_id, parsed.data);
      } catch (err) {
        await this.audit.append({ actor: 'csp', action: 'integrity.failure', target: `device:${d.device_ref}`, outcome: 'error', detail: { reason: String(err) } });
      }
    }
    await this.#auditWithheld('device', seen);
  }

  /**
   * Checks an authenticated entry the SP served against the CSP's high-water mark: older is a rollback
   * (audited, flagged, false); newer raises the mark (a write whose acknowledgement was lost).
   */
  async #fresh(kind: TrackedKind, ref: string, version: number): Promise<boolean> {
    try {
      this.#marks.check(kind, ref, version);
    } catch (err) {
      if (!(err instanceof SpRollbackError)) throw err;
      await this.#auditRollback(kind, ref, { served: version, high_water: this.#marks.get(kind, ref) });
      this.#logger?.warn({ code: err.code, kind, ref, served: version }, 'SP rollback refused');
      return false;
    }
    await this.#marks.raise(kind, ref, version);
    return true;
  }

  async #auditRollback(kind: TrackedKind, ref: string, detail: Record<string, unknown>): Promise<void> {
    await this.audit.append({ actor: 'csp', action: 'integrity.rollback', target: `${kind}:${ref}`, outcome: 'error', flagged: true, detail });
  }

  /** Audits entries the CSP stored that the SP no longer lists (withheld or deleted: they stay out, never older). */
  async #auditWithheld(kind: TrackedKind, seen: Set<string>): Promise<void> {
    for (const ref of this.#marks.refs(kind)) {
      if (!seen.has(ref)) await this.#auditRollback(kind, ref, { served: null, high_water: this.#marks.get(kind, ref) });
    }
  }

  async #storeDevice(d: DeviceRecord): Promise<void> {
    const ref = this.#deviceRef(d.device_id);
    const blob = sealRecord(this.#keys.kek, entryContext('device', ref, d.version), Buffer.from(JSON.stringify(d)));
    try {
      await this.link.call({ op: 'put_device', device_ref: ref, version: d.version, blob: blob.toString('base64url') });
    } catch (err) {
      // A lost answer to a stored write: the same version is already there.
      if (!(err instanceof SpRequestError && err.reason === 'conflict')) throw err;
    }
    // Only after the SP holds it: a mark ahead of the SP would read as a rollback at the next start.
    await this.#marks.raise('device', ref, d.version);
    this.#devices.set(d.device_id, d);
  }

  // ---------- devices (gateways) ----------

  /**
   * Registers a gateway: its raw Ed25519 public key (64 hex) and the patients it serves (all must exist).
   * `actor` must be an admin, or 'bootstrap' for the demo's in-process set-up.
   */
  async registerDevice(actor: Principal | 'bootstrap', input: unknown): Promise<DeviceRecord> {
    const actorName = actor === 'bootstrap' ? 'bootstrap' : principalName(actor);
    if (actor !== 'bootstrap' && decideAdmin(actor) !== 'allow') {
      await this.audit.append({ actor: actorName, action: 'device.register', outcome: 'denied' });
      throw new ForbiddenError('only an admin registers devices');
    }
    const r = deviceRegistrationSchema.safeParse(input);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new ValidationError(issue.path.join('.') || 'device', issue.message);
    }
    const unknown = r.data.patients.filter((id) => !this.#patientExists(id));
    if (unknown.length > 0) throw new UnknownReferenceError('patients', 'patient ids', unknown);
    if (this.#devices.has(r.data.id)) throw new ConflictError(`device ${r.data.id} is already registered`);
    const device: DeviceRecord = {
      device_id: r.data.id,
      signing_public_key: r.data.signing_public_key.toLowerCase(),
      patients: [...new Set(r.data.patients)],
      version: 1,
      created_ms: Date.now(),
      revoked: false,
    };
    await this.#storeDevice(device);
    await this.audit.append({ actor: actorName, action: 'device.register', target: `device:${device.device_id}`, outcome: 'ok', detail: { patients: device.patients.length } });
    return device;
  }

  /** Revokes a gateway's credential (admin only); its tokens are refused from now on. */
  async revokeDevice(actor: Principal, deviceId: string): Promise<DeviceRecord> {
    if (decideAdmin(actor) !== 'allow') {
      await this.audit.append({ actor: principalName(actor), action: 'device.revoke', target: `device:${deviceId}`, outcome: 'denied' });
      throw new ForbiddenError('only an admin revokes devices');
    }
    const d = this.#devices.get(deviceId);
    if (!d) throw new NotFoundError('no such device');
    const next = { ...d, revoked: true, version: d.version + 1 };
    if (!d.revoked) await this.#storeDevice(next);
    await this.audit.append({ actor: principalName(actor), action: 'device.revoke', target: `device:${deviceId}`, outcome: 'ok' });
    return d.revoked ? d : next;
  }

  /** Registered devices (admin only). */
  listDevices(actor: Principal): DeviceRecord[] {
    if (decideAdmin(actor) !== 'allow') throw new ForbiddenError('only an admin lists devices');
    return [...this.#devices.values()].sort((a, b) => a.device_id.localeCompare(b.device_id));
  }

  /**
   * Verifies a device token (compact JWS signed by the gateway) and takes one request from its rate limit.
   * Every refusal is the same DeviceAuthError (DEVICE_AUTH_REFUSED) to the caller — an unknown device looks
   * like a revoked one, a bad signature or a replay; the real reason is audited, logged, and kept as `cause`.
   */
  async authenticateDevice(token: string): Promise<Principal> {
    let device: DeviceRecord;
    try {
      device = await verifyDeviceToken(token, (id) => this.#devices.get(id), this.#jtis);
    } catch (err) {
      if (!(err instanceof DeviceAuthError)) throw err;
      await this.audit.append({ actor: 'device', action: 'device.auth', outcome: 'denied', detail: { reason: err.message } });
      this.#logger?.warn({ code: err.code, reason: err.message }, 'device credential refused');
      throw new DeviceAuthError(DEVICE_AUTH_REFUSED, { cause: err });
    }
    const wait = this.#deviceLimiter.take(device.device_id);
    if (wait !== undefined) {
      await this.audit.append({ actor: `device:${device.device_id}`, action: 'device.auth', outcome: 'denied', detail: { reason: 'rate limited' } });
      throw new ThrottledError(`device ${device.device_id} is over its request rate`, wait);
    }
    return { kind: 'device', device };
  }

  /**
   * Stores verified pipeline results sent by a gateway: each item becomes an `hrv` and an `rr_batch`
   * record, written together in one SP transaction under a dedupe key of (gateway, patient, seq), so a
   * retried or replayed result is answered `duplicate` and stores nothing. All items are checked before
   * any is stored.
   */
  async ingestResults(p: Principal, body: unknown): Promise<IngestAnswer> {
    const req = parseContract('ingest request', ingestRequestSchema, body);
    const actor = principalName(p);
    if (decideIngest(p, req.gateway) !== 'allow') {
      await this.audit.append({ actor, action: 'ingest.results', target: `gateway:${req.gateway}`, outcome: 'denied' });
      throw new ForbiddenError(`only gateway ${req.gateway} itself forwards its results`);
    }
    for (const [i, item] of req.items.entries()) {
      for (const type of ['hrv', 'rr_batch'] as const) {
        const decision = this.#patientExists(item.patient) ? decideWrite(p, item.patient, type) : 'not_found';
        if (decision !== 'allow') {
          await this.audit.append({ actor, action: `record.write.${type}`, target: item.patient, outcome: 'denied', detail: { decision, item: i } });
          throw new ForbiddenError(`items.${i}.patient: ${item.patient} is not a patient of gateway ${req.gateway}`);
        }
      }
    }
    const outcomes: IngestAnswer['outcomes'] = [];
    for (const item of req.items) {
      const now = Date.now();
      const records: ClinicalRecord[] = recordsFromResult(req.gateway, item.result).map((r) => ({
        id: `r-${randomUUID()}`,
        patient_id: item.patient,
        type: r.type,
        t_ms: r.t_ms,
        author: actor,
        created_ms: now,
        // Built by recordsFromResult from a validated result, and checked again like every record.
        data: recordData(r.type, r.data),
      }));
      const dedupe = blindIndex(this.#keys.indexKey, 'ingest', `${req.gateway}\0${item.patient}\0${item.result.seq}`);
      // A resend after a lost answer is answered from the CSP's own index (the key is committed with the records):
      // no intent, no SP transaction. Only a result the CSP never indexed goes on to the SP's unique key.
      const [known] = await this.#db.query<{ seq: number }>('SELECT seq FROM csp_idempotency WHERE idem_ref = $1', [dedupe]);
      const { stored } = known
        ? { stored: false }
        : await this.#append({
            records,
            dedupe,
            idem: { ref: dedupe, hash: createHash('sha256').update(canonicalJson(item.result)).digest('hex') },
            event: { actor, action: 'ingest.result', target: item.patient, outcome: 'ok', detail: { seq: item.result.seq, ids: records.map((r) => r.id) } },
          });
      outcomes.push({ patient: item.patient, seq: item.result.seq, outcome: stored ? 'stored' : 'duplicate' });
      if (!stored) await this.audit.append({ actor, action: 'ingest.result', target: item.patient, outcome: 'ok', detail: { seq: item.result.seq, duplicate: true } });
    }
    return { outcomes };
  }

  #userRef(username: string): string {
    return blindIndex(this.#keys.indexKey, 'user', username.toLowerCase());
  }

  readonly #patientRefs = new Map<string, string>();
  #patientRef(patientId: string): string {
    let ref = this.#patientRefs.get(patientId);
    if (ref === undefined) {
      ref = blindIndex(this.#keys.indexKey, 'patient', patientId);
      if (this.#patientRefs.size < 1_000_000) this.#patientRefs.set(patientId, ref);
    }
    return ref;
  }

  #typeTag(type: RecordType): string {
    return blindIndex(this.#keys.indexKey, 'type', type);
  }

  #metricTag(): string {
    return blindIndex(this.#keys.indexKey, 'metric', 'hrv-v1');
  }

  async #loadUsers(): Promise<void> {
    const answer = await this.link.call<{ users: Array<{ user_ref: string; version: number; blob: string }> }>({ op: 'list_users' });
    const seen = new Set<string>();
    for (const u of answer.users) {
      seen.add(u.user_ref);
      try {
        const rec = this.#openUser(u.user_ref, u.version, Buffer.from(u.blob, 'base64url'));
        // An older entry (a revoked grant, an old password) is left out: its user cannot log in or use a token.
        if (await this.#fresh('user', u.user_ref, u.version)) this.#remember(rec);
      } catch (err) {
        await this.audit.append({ actor: 'csp', action: 'integrity.failure', target: `user:${u.user_ref}`, outcome: 'error', detail: { reason: String(err) } });
      }
    }
    await this.#auditWithheld('user', seen);
  }

  /** Opens a user entry the SP served as `version`: the version is in the AEAD context and must match the content. */
  #openUser(userRef: string, version: number, blob: Buffer): UserRecord {
    const plain = openRecord(this.#keys.kek, entryContext('user', userRef, version), blob);
    const parsed = userRecordSchema.safeParse(JSON.parse(plain.toString('utf8')));
    if (!parsed.success) throw new RecordIntegrityError('stored user record does not match the schema');
    if (this.#userRef(parsed.data.username) !== userRef) throw new RecordIntegrityError('stored user record is filed under another name');
    if (parsed.data.version !== version) throw new RecordIntegrityError('stored user record carries another version');
    return parsed.data;
  }

  #remember(u: UserRecord): void {
    const known = this.#users.get(u.user_id);
    if (known && known.version > u.version) return; // never roll back to an older version
    this.#users.set(u.user_id, u);
    this.#byUsername.set(u.username, u.user_id);
  }

  async #storeUser(u: UserRecord): Promise<void> {
    const ref = this.#userRef(u.username);
    const blob = sealRecord(this.#keys.kek, entryContext('user', ref, u.version), Buffer.from(JSON.stringify(u)));
    // SpLink renews K_st and retries if the SP reports an integrity failure; put_user is idempotent by version.
    try {
      await this.link.call({ op: 'put_user', user_ref: ref, version: u.version, blob: blob.toString('base64url') });
    } catch (err) {
      if (!(err instanceof SpRequestError && err.reason === 'conflict')) throw err;
      const stored = await this.#fetchUser(u.username);
      if (!stored || stored.version !== u.version || stored.user_id !== u.user_id) throw err;
    }
    // Only after the SP holds it: a mark ahead of the SP would read as a rollback at the next start.
    await this.#marks.raise('user', ref, u.version);
    this.#remember(u);
  }

  async #fetchUser(username: string): Promise<UserRecord | undefined> {
    const ref = this.#userRef(username);
    const challenge = randomBytes(24).toString('base64url');
    let answer: { challenge: string; version: number; blob: string };
    try {
      answer = await this.link.call({ op: 'get_user', user_ref: ref, challenge });
    } catch (err) {
      if (err instanceof SpRequestError && err.reason === 'not_found') return undefined;
      throw err;
    }
    const a = Buffer.from(answer.challenge);
    const b = Buffer.from(challenge);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new RecordIntegrityError('SP answered another challenge');
    let user: UserRecord;
    try {
      if (!Number.isSafeInteger(answer.version)) throw new RecordIntegrityError('SP answered without a version');
      user = this.#openUser(ref, answer.version, Buffer.from(answer.blob, 'base64url'));
    } catch (err) {
      await this.audit.append({ actor: 'csp', action: 'integrity.failure', target: `user:${ref}`, outcome: 'error', detail: { reason: String(err) } });
      await this.link.integrityFailure(`stored user entry failed verification`);
      throw err;
    }
    if (!(await this.#fresh('user', ref, user.version))) {
      throw new SpRollbackError('user', ref, 'the SP served an older version of this user entry than the CSP stored: refused');
    }
    return user;
  }

  // ---------- Phase II: registration ----------

  /**
   * Registers a user. 'bootstrap' (the first admins and the demo, in-process at set-up) registers at once with
   * the given password. An admin's registration is a grant (see `requestUser`): the answer is the account,
   * which cannot log in until the grant is approved and its holder enrols.
   */
  async registerUser(actor: Principal | 'bootstrap', input: UserInput): Promise<UserView> {
    if (actor !== 'bootstrap') return (await this.requestUser(actor, input)).user;
    const user = await this.#draftUser('bootstrap', input);
    const rec = { ...user, verifier: await hashPassword(input.password) };
    await this.#storeUser(rec);
    await this.audit.append({ actor: 'bootstrap', action: 'user.register', target: rec.user_id, outcome: 'ok', detail: { role: rec.role } });
    return view(rec);
  }

  /**
   * An admin asks for a new account: a grant of kind 'account'. `input.password` becomes the requester's
   * part of the enrolment code, never a password: the account's verifier is one nobody holds. Each approving
   * admin gets one more part; the holder enrols with all of them and a password of their own.
   */
  async requestUser(actor: Principal, input: UserInput): Promise<{ user: UserView; grant: Grant }> {
    if (decideAdmin(actor) !== 'allow') {
      await this.audit.append({ actor: principalName(actor), action: 'user.register', target: input.username, outcome: 'denied' });
      throw new ForbiddenError('only an admin registers users');
    }
    const user = await this.#draftUser(principalName(actor), input);
    const grant = this.#grants.draft({ kind: 'account', user_id: user.user_id, username: user.username, role: user.role, patients: user.patients, requested_by: principalName(actor), needed: this.#grantApprovals });
    const pending = grant.state === 'pending';
    const rec: UserRecord = {
      ...user,
      patients: pending ? [] : user.patients,
      verifier: await unusableVerifier(),
      enrol: [await hashPassword(input.password)],
      ...(pending ? { pending_grant: grant.grant_id } : {}),
    };
    await this.#storeUser(rec);
    await this.#grants.put(grant);
    await this.audit.append({ actor: principalName(actor), action: 'user.register', target: rec.user_id, outcome: 'ok', detail: { role: rec.role, grant_id: grant.grant_id } });
    await this.#auditGrant(actor, 'grant.request', 'ok', grant);
    return { user: view(rec), grant };
  }

  /** A new user record from `input`, checked (password rules, name and patient login unique); no verifier yet. */
  async #draftUser(actorName: string, input: UserInput): Promise<Omit<UserRecord, 'verifier'>> {
    const problem = passwordProblem(input.password);
    if (problem) throw new ValidationError('password', problem);
    const username = input.username.toLowerCase();
    if (this.#byUsername.has(username)) throw new ConflictError(`username ${username} is taken`);
    if (input.role === 'patient' && !input.patient_id) throw new ValidationError('patient_id', 'a patient user needs a patient_id');
    const draft = {
      user_id: `u-${randomUUID()}`,
      username,
      role: input.role,
      display_name: input.display_name ?? username,
      patient_id: input.role === 'patient' ? input.patient_id : undefined,
      patients: input.role === 'health_worker' || input.role === 'doctor' ? [...new Set(input.patients ?? [])] : [],
      verifier: '$argon2id$draft', // replaced by the caller
      version: 1,
      created_ms: Date.now(),
      disabled: false,
    };
    const parsed = userRecordSchema.safeParse(draft);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(issue.path.join('.') || 'user', issue.message);
    }
    if (parsed.data.role === 'patient' && [...this.#users.values()].some((u) => u.role === 'patient' && u.patient_id === parsed.data.patient_id)) {
      throw new ConflictError(`patient ${parsed.data.patient_id} already has a login`);
    }
    if (actorName !== 'bootstrap') {
      const unknown = parsed.data.patients.filter((id) => !this.#patientExists(id));
      if (unknown.length > 0) throw new UnknownReferenceError('patients', 'patient ids', unknown);
    }
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the caller sets the verifier
    const { verifier, ...rest } = parsed.data;
    return rest;
  }

  /**
   * Sets the patients a health worker or doctor is assigned to (admin only). Removals take effect at once
   * (revoking never waits); additions are a grant of kind 'assign', effective when approved.
   */
  async setAssignments(actor: Principal, userId: string, patients: string[]): Promise<UserView & { grant?: Grant }> {
    if (decideAdmin(actor) !== 'allow') {
      await this.audit.append({ actor: principalName(actor), action: 'user.assign', target: userId, outcome: 'denied' });
      throw new ForbiddenError('only an admin changes assignments');
    }
    let u = this.#users.get(userId);
    if (!u) throw new NotFoundError('no such user');
    if (u.role !== 'doctor' && u.role !== 'health_worker') throw new ValidationError('user_id', 'only doctors and health workers have assignments');
    const want = new Set(patients);
    const unknown = [...want].filter((id) => !this.#patientExists(id));
    if (unknown.length > 0) throw new UnknownReferenceError('patients', 'patient ids', unknown);
    const kept = u.patients.filter((id) => want.has(id));
    const added = [...want].filter((id) => !u!.patients.includes(id));
    if (kept.length !== u.patients.length) {
      u = { ...u, patients: kept, version: u.version + 1 };
      await this.#storeUser(u);
      await this.audit.append({ actor: principalName(actor), action: 'user.assign', target: userId, outcome: 'ok', detail: { patients: u.patients.length, removed: patients.length } });
    }
    if (added.length === 0) return view(u);
    const grant = this.#grants.draft({ kind: 'assign', user_id: u.user_id, username: u.username, role: u.role, patients: added, requested_by: principalName(actor), needed: this.#grantApprovals });
    if (grant.state === 'approved') {
      u = { ...u, patients: [...u.patients, ...added], version: u.version + 1 };
      await this.#storeUser(u);
    }
    await this.#grants.put(grant);
    await this.#auditGrant(actor, 'grant.request', 'ok', grant);
    return { ...view(u), grant };
  }

  /** Writes a grant event: always flagged, always marked as a grant of clinical access. */
  async #auditGrant(actor: Principal, action: string, outcome: 'ok' | 'denied', g: Partial<Grant> & { grant_id: string }, extra: Record<string, unknown> = {}): Promise<void> {
    await this.audit.append({
      actor: principalName(actor),
      action,
      target: g.user_id ?? g.grant_id,
      outcome,
      flagged: true,
      detail: { clinical_access: true, grant_id: g.grant_id, kind: g.kind, role: g.role, patients: g.patients, state: g.state, ...extra },
    });
  }

  /** Grants in `state` (all when absent), oldest first (admin only). */
  async listGrants(actor: Principal, state?: GrantState): Promise<Grant[]> {
    if (decideAdmin(actor) !== 'allow') throw new ForbiddenError('only an admin lists grants');
    return this.#grants.list(state);
  }

  /**
   * Approves a pending grant (admin only; never the requester's own, nor one about the approver's account).
   * For an account or a password reset the approver gets one part of the enrolment code, shown only here.
   * The grant takes effect when it has its `needed` people.
   */
  async approveGrant(actor: Principal, grantId: string): Promise<{ grant: Grant; enrolment_code?: string }> {
    const g = await this.#grants.get(grantId);
    const decision = g ? decideApproval(actor, g) : decideAdmin(actor);
    if (decision !== 'allow') {
      await this.#auditGrant(actor, 'grant.approve', 'denied', g ?? { grant_id: grantId }, { reason: decision === 'self' ? 'self-approval' : 'not an admin' });
      if (decision === 'self') throw new SelfApprovalError('an admin cannot approve a grant they requested or one about their own account');
      throw new ForbiddenError('only an admin approves grants');
    }
    if (!g) throw new NotFoundError('no such grant');
    if (g.state !== 'pending') throw new GrantStateError(`grant ${g.grant_id} is ${g.state}`);
    const u = this.#users.get(g.user_id);
    const stale = !u || (g.kind !== 'assign' && u.pending_grant !== g.grant_id);
    if (stale) throw new GrantStateError(`grant ${g.grant_id} no longer applies to its account`);
    const approvals = [...g.approvals, principalName(actor)];
    const done = approvals.length + 1 >= g.needed;
    const code = g.kind === 'assign' ? undefined : enrolmentCodePart();
    let next: UserRecord = { ...u, version: u.version + 1 };
    if (code !== undefined) next.enrol = [...(u.enrol ?? []), await hashPassword(code)];
    if (done) {
      if (g.kind !== 'assign') delete next.pending_grant;
      if (g.kind !== 'credential') next = { ...next, patients: [...new Set([...u.patients, ...g.patients.filter((id) => this.#patientExists(id))])] };
    }
    if (code !== undefined || done) await this.#storeUser(next);
    const grant: Grant = { ...g, approvals, ...(done ? { state: 'approved' as const, decided_ms: Date.now() } : {}) };
    await this.#grants.put(grant);
    await this.#auditGrant(actor, 'grant.approve', 'ok', grant, { effective: done });
    return { grant, ...(code !== undefined ? { enrolment_code: code } : {}) };
  }

  /** Rejects (or, for its requester, withdraws) a pending grant (admin only). A rejected account stays disabled. */
  async rejectGrant(actor: Principal, grantId: string): Promise<{ grant: Grant }> {
    if (decideAdmin(actor) !== 'allow') {
      await this.#auditGrant(actor, 'grant.reject', 'denied', { grant_id: grantId });
      throw new ForbiddenError('only an admin rejects grants');
    }
    const g = await this.#grants.get(grantId);
    if (!g) throw new NotFoundError('no such grant');
    if (g.state !== 'pending') throw new GrantStateError(`grant ${g.grant_id} is ${g.state}`);
    const u = this.#users.get(g.user_id);
    if (u && g.kind === 'account' && u.pending_grant === g.grant_id && !u.disabled) await this.#storeUser({ ...u, disabled: true, version: u.version + 1 });
    const grant: Grant = { ...g, state: 'rejected', decided_ms: Date.now() };
    await this.#grants.put(grant);
    await this.#auditGrant(actor, 'grant.reject', 'ok', grant);
    return { grant };
  }

  // ---------- Phase III: authentication ----------

  /** Logs a user in: the SP returns the sealed user entry bound to a fresh challenge; the password is checked here. */
  async login(usernameRaw: string, password: string, address = 'unknown'): Promise<{ access_token: string; refresh_token: string; expires_in: number }> {
    const username = usernameRaw.toLowerCase();
    // Reserved before any await: the attempt counts as a failure until the password is found right.
    const admitted = this.#throttle.reserve(username, address);
    if (!admitted.ok) {
      await this.audit.append({ actor: username, action: 'auth.login', outcome: 'denied', detail: { reason: 'throttled', scope: admitted.scope, address } });
      throw new ThrottledError('too many failed logins', admitted.retryAfterS);
    }
    let user: UserRecord | undefined;
    try {
      user = await this.#fetchUser(username);
    } catch (err) {
      if (!(err instanceof RecordIntegrityError)) throw err;
      // Renewal happened in #fetchUser; one more try under the fresh keys.
      user = await this.#fetchUser(username);
    }
    const ok = await verifyPassword(user?.verifier ?? (await unusableVerifier()), password);
    if (!user || !ok || user.disabled || user.enrol !== undefined || user.pending_grant !== undefined) {
      await this.audit.append({ actor: username, action: 'auth.login', outcome: 'denied', detail: { reason: 'bad credentials', address } });
      throw new AuthError('invalid username or password');
    }
    this.#remember(user);
    admitted.reservation.succeeded();
    const tokens = await this.#issueTokens(user);
    await this.audit.append({ actor: user.user_id, action: 'auth.login', outcome: 'ok', detail: { address } });
    return tokens;
  }

  async #issueTokens(user: UserRecord): Promise<{ access_token: string; refresh_token: string; expires_in: number }> {
    const session = await this.#refresh.startSession(user.user_id);
    return {
      access_token: await signAccessToken(this.#keys.token.privateKey, { sub: user.user_id, role: user.role, sid: session.family }),
      refresh_token: session.token,
      expires_in: ACCESS_TOKEN_TTL_S,
    };
  }

  /**
   * First login of an account an admin made or reset: the holder presents every part of the enrolment code
   * (the requesting admin's, then each approver's, in that order) and sets a password of their own, which
   * must be none of the parts. Refused while the grant is pending. Throttled like a login.
   */
  async enrol(usernameRaw: string, codes: string[], password: string, address = 'unknown'): Promise<{ access_token: string; refresh_token: string; expires_in: number }> {
    const username = usernameRaw.toLowerCase();
    // Reserved before any await, as for a login: the attempt counts as a failure until the code is found right.
    const admitted = this.#throttle.reserve(username, address);
    if (!admitted.ok) {
      await this.audit.append({ actor: username, action: 'auth.enrol', outcome: 'denied', detail: { reason: 'throttled', scope: admitted.scope, address } });
      throw new ThrottledError('too many failed logins', admitted.retryAfterS);
    }
    const problem = passwordProblem(password);
    if (problem) throw new ValidationError('password', problem);
    let user: UserRecord | undefined;
    try {
      user = await this.#fetchUser(username);
    } catch (err) {
      if (!(err instanceof RecordIntegrityError)) throw err;
      user = await this.#fetchUser(username);
    }
    const parts = user?.enrol ?? [await unusableVerifier()];
    let ok = user !== undefined && user.enrol !== undefined && user.pending_grant === undefined && !user.disabled && codes.length === parts.length;
    // Every part is checked even after a mismatch, so the time taken does not tell which part was wrong.
    for (const [i, v] of parts.entries()) ok = (await verifyPassword(v, codes[i] ?? '')) && ok;
    if (!user || !ok) {
      await this.audit.append({ actor: username, action: 'auth.enrol', outcome: 'denied', detail: { reason: 'bad enrolment code or account not ready', address } });
      throw new AuthError('invalid username or enrolment code');
    }
    admitted.reservation.succeeded();
    if (codes.includes(password)) throw new ValidationError('password', 'must be your own, not a part of the enrolment code');
    const next: UserRecord = { ...user, verifier: await hashPassword(password), version: Math.max(user.version, this.#users.get(user.user_id)?.version ?? 0) + 1 };
    delete next.enrol;
    await this.#storeUser(next);
    const tokens = await this.#issueTokens(next);
    await this.audit.append({ actor: next.user_id, action: 'auth.enrol', outcome: 'ok', flagged: true, detail: { address, role: next.role } });
    return tokens;
  }

  /** Trades a refresh token for a new pair; a reused token revokes its family. */
  async refresh(token: string): Promise<{ access_token: string; refresh_token: string; expires_in: number }> {
    const out = await this.#refresh.rotate(token);
    if (out.kind === 'reused') {
      await this.audit.append({ actor: out.userId, action: 'auth.refresh_reuse', outcome: 'denied', flagged: true, detail: { family: out.family } });
      throw new AuthError('refresh token reuse detected: all sessions of this login are revoked');
    }
    if (out.kind === 'invalid') throw new AuthError('refresh token is not valid');
    const user = this.#users.get(out.userId);
    if (!user || user.disabled || user.enrol !== undefined || user.pending_grant !== undefined) throw new AuthError('user no longer active');
    await this.audit.append({ actor: user.user_id, action: 'auth.refresh', outcome: 'ok' });
    return {
      access_token: await signAccessToken(this.#keys.token.privateKey, { sub: user.user_id, role: user.role, sid: out.family }),
      refresh_token: out.token,
      expires_in: ACCESS_TOKEN_TTL_S,
    };
  }

  /**
   * Revokes the refresh family of `token` and, given the caller's access token, its session too: every
   * access token of a revoked session stops working at once, not when it expires.
   */
  async logout(token: string, actor?: Principal, accessToken?: string): Promise<void> {
    if (accessToken !== undefined) await this.#refresh.revokeSession((await verifyAccessToken(this.#keys.token.publicKey, accessToken)).sid);
    const revoked = await this.#refresh.revokeFamilyOf(token);
    await this.audit.append({ actor: actor ? principalName(actor) : 'anonymous', action: 'auth.logout', outcome: revoked ? 'ok' : 'error' });
  }

  /** Verifies an access token and returns the caller; 401 on any problem. */
  async authenticate(accessToken: string): Promise<Principal> {
    const claims = await verifyAccessToken(this.#keys.token.publicKey, accessToken);
    const user = this.#users.get(claims.sub);
    // An account waiting to enrol (e.g. after a password reset) has no valid session.
    if (!user || user.disabled || user.role !== claims.role || user.enrol !== undefined || user.pending_grant !== undefined) throw new AuthError('token does not match an active user');
    if (!(await this.#refresh.sessionActive(claims.sid, user.user_id))) throw new AuthError('session ended (logged out or revoked)');
    return { kind: 'user', user };
  }

  /** The public key that verifies access tokens (for other services). */
  get tokenPublicKey(): KeyObject {
    return this.#keys.token.publicKey;
  }

  /** The caller's own user view. */
  me(p: Principal): UserView | { service: string } {
    return p.kind === 'user' ? view(p.user) : { service: principalName(p) };
  }

  /** Patients the caller may see (admins: all, as directory entries for managing assignments). */
  listPatients(p: Principal): Array<{ patient_id: string; display_name: string }> {
    const patients = [...this.#users.values()].filter((u) => u.role === 'patient' && u.patient_id);
    const visible = p.kind === 'user' && p.user.role === 'admin' ? patients : patients.filter((u) => canSeePatient(p, u.patient_id!));
    return visible.map((u) => ({ patient_id: u.patient_id!, display_name: u.display_name })).sort((a, b) => a.patient_id.localeCompare(b.patient_id));
  }

  /**
   * The patient list: the patients the caller may see, each with the latest HRV window's headline
   * measures, the time of the newest record and the count of unacknowledged alert onsets, filtered by
   * `q` (id or name), sorted and paged. From the CSP's in-memory summaries: no SP round trip. Admins get
   * the directory only (no clinical values).
   */
  listPatientSummaries(
    p: Principal,
    q: { q?: string; sort?: PatientSort; order?: 'asc' | 'desc'; offset?: number; limit?: number } = {},
  ): { total: number; items: PatientListItem[] } {
    const needle = q.q?.trim().toLowerCase();
    const items: PatientListItem[] = [];
    for (const d of this.listPatients(p)) {
      if (needle && !d.patient_id.toLowerCase().includes(needle) && !d.display_name.toLowerCase().includes(needle)) continue;
      const s = canSeePatient(p, d.patient_id) ? this.#summaries.get(this.#patientRef(d.patient_id)) : undefined;
      items.push({
        patient_id: d.patient_id,
        display_name: d.display_name,
        latest: s?.latest ?? null,
        last_data_ms: s?.last_data_ms ?? null,
        open_alerts: s ? openAlerts(s) : 0,
      });
    }
    const key: Record<PatientSort, (i: PatientListItem) => string | number | null> = {
      name: (i) => i.display_name.toLowerCase(),
      hr: (i) => i.latest?.mean_hr_bpm ?? null,
      sdnn: (i) => i.latest?.sdnn_ms ?? null,
      rmssd: (i) => i.latest?.rmssd_ms ?? null,
      last_data: (i) => i.last_data_ms,
      alerts: (i) => i.open_alerts,
    };
    const k = key[q.sort ?? 'name'];
    const sign = q.order === 'desc' ? -1 : 1;
    items.sort((a, b) => {
      const x = k(a);
      const y = k(b);
      // Patients without a value sort last in either direction; ties fall back to the id.
      if (x === null || y === null) return x === y ? a.patient_id.localeCompare(b.patient_id) : x === null ? 1 : -1;
      const c = x < y ? -1 : x > y ? 1 : 0;
      return c !== 0 ? sign * c : a.patient_id.localeCompare(b.patient_id);
    });
    const offset = Math.max(0, Math.floor(q.offset ?? 0));
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? 50)), 1000);
    return { total: items.length, items: items.slice(offset, offset + limit) };
  }

  /**
   * A doctor acknowledges one alert onset of an `hrv` record: stored as an `alert_ack` record; the onset
   * then no longer counts as open. An onset the patient does not have is refused. `idempotencyKey` as in
   * `appendRecord`.
   */
  async acknowledgeAlert(p: Principal, patientId: string, input: unknown, opts: { idempotencyKey?: string } = {}): Promise<RecordView> {
    const data = recordData('alert_ack', input) as unknown as AlertAckData;
    const decision = this.#patientExists(patientId) ? decideWrite(p, patientId, 'alert_ack') : 'not_found';
    if (decision === 'allow') {
      const s = this.#summaries.get(this.#patientRef(patientId));
      if (!s.onsets.some((o) => onsetKey(o) === onsetKey(data))) {
        throw new UnknownReferenceError('hrv_record', 'alert onset', [`${data.hrv_record} ${data.alert_type} at ${data.onset_ms}`]);
      }
    }
    const rec = await this.appendRecord(p, patientId, { type: 'alert_ack', data: data as unknown as Record<string, unknown> }, opts);
    return { ...rec, author_name: this.#authorName(rec.author) };
  }

  async #adminChange(actor: Principal, userId: string, action: string, change: (u: UserRecord) => Promise<UserRecord> | UserRecord): Promise<UserView> {
    if (decideAdmin(actor) !== 'allow') {
      await this.audit.append({ actor: principalName(actor), action, target: userId, outcome: 'denied' });
      throw new ForbiddenError('only an admin manages users');
    }
    const u = this.#users.get(userId);
    if (!u) throw new NotFoundError('no such user');
    const next = { ...(await change(u)), version: u.version + 1 };
    await this.#storeUser(next);
    await this.audit.append({ actor: principalName(actor), action, target: userId, outcome: 'ok' });
    return view(next);
  }

  /** Disables or re-enables a user (admin only); a disabled user's tokens and refresh tokens stop working. */
  async setUserDisabled(actor: Principal, userId: string, disabled: boolean): Promise<UserView> {
    if (actor.kind === 'user' && actor.user.user_id === userId && disabled) throw new ValidationError('disabled', 'an admin cannot disable their own account');
    const out = await this.#adminChange(actor, userId, disabled ? 'user.disable' : 'user.enable', (u) => ({ ...u, disabled }));
    if (disabled) await this.#refresh.revokeUser(userId);
    return out;
  }

  /**
   * Resets a user's credential (admin only): the old password and every session stop working at once, and
   * the account must enrol again. `password` is the requesting admin's part of the enrolment code; the reset
   * is a grant of kind 'credential' (whoever could enrol could read what the account reads).
   */
  async resetPassword(actor: Principal, userId: string, password: string): Promise<UserView & { grant: Grant }> {
    const problem = passwordProblem(password);
    if (problem) throw new ValidationError('password', problem);
    let grant: Grant | undefined;
    const out = await this.#adminChange(actor, userId, 'user.password_reset', async (u) => {
      grant = this.#grants.draft({ kind: 'credential', user_id: u.user_id, username: u.username, role: u.role, patients: [], requested_by: principalName(actor), needed: this.#grantApprovals });
      const next: UserRecord = { ...u, verifier: await unusableVerifier(), enrol: [await hashPassword(password)] };
      if (grant.state === 'pending') next.pending_grant = grant.grant_id;
      else delete next.pending_grant;
      return next;
    });
    await this.#refresh.revokeUser(userId);
    await this.#grants.put(grant!);
    await this.#auditGrant(actor, 'grant.request', 'ok', grant!);
    return { ...out, grant: grant! };
  }

  /**
   * Audit entries, newest first, filtered by free text `q` (anywhere in the entry), actor, action
   * (prefix), outcome and time; with the chain's verification (admin only).
   */
  async searchAudit(
    actor: Principal,
    q: { q?: string; actor?: string; action?: string; outcome?: 'ok' | 'denied' | 'error'; from_ms?: number; to_ms?: number; offset?: number; limit?: number },
  ): Promise<{ total: number; items: AuditEntry[]; verification: AuditVerification }> {
    if (decideAdmin(actor) !== 'allow') {
      await this.audit.append({ actor: principalName(actor), action: 'audit.read', outcome: 'denied' });
      throw new ForbiddenError('only an admin reads the audit log');
    }
    const out = await this.audit.search(q);
    await this.audit.append({ actor: principalName(actor), action: 'audit.read', outcome: 'ok', detail: { total: out.total } });
    // From the last verified entry on: a full pass on every page view grows with the log (GET /audit/verify
    // and the CLI still run the full pass).
    return { ...out, verification: await this.audit.verify({ incremental: true }) };
  }

  /** All users (admin only). */
  listUsers(p: Principal): UserView[] {
    if (decideAdmin(p) !== 'allow') throw new ForbiddenError('only an admin lists users');
    return [...this.#users.values()].map(view);
  }

  /** Who wrote a record, as people read it: a user's display name, or the gateway that forwarded it. */
  #authorName(author: string): string {
    const u = this.#users.get(author);
    if (u) return u.display_name;
    if (author.startsWith('device:')) return `gateway ${author.slice(7)}`;
    if (author.startsWith('service:')) return 'HRV pipeline';
    return author;
  }

  #patientExists(patientId: string): boolean {
    for (const u of this.#users.values()) if (u.role === 'patient' && u.patient_id === patientId) return true;
    return false;
  }

  // ---------- Protocol II, Phase I: storage ----------

  /**
   * Appends a record for a patient after the policy check; HRV records also get Paillier metadata.
   * `idempotencyKey` (the HTTP `Idempotency-Key`, scoped to the caller): a retry with the same key and the
   * same request returns the record the first stored, and stores nothing; the same key with another request
   * is a ConflictError.
   */
  async appendRecord(
    p: Principal,
    patientId: string,
    input: { type: RecordType; t_ms?: number; data: Record<string, unknown> },
    opts: { idempotencyKey?: string } = {},
  ): Promise<ClinicalRecord> {
    if (!RECORD_TYPES.includes(input.type)) throw new ValidationError('type', `must be one of ${RECORD_TYPES.join(', ')}`);
    const decision = this.#patientExists(patientId) ? decideWrite(p, patientId, input.type) : 'not_found';
    if (decision !== 'allow') {
      await this.audit.append({ actor: principalName(p), action: `record.write.${input.type}`, target: patientId, outcome: 'denied', detail: { decision } });
      if (decision === 'not_found') throw new NotFoundError('no such patient');
      throw new ForbiddenError(`a ${p.kind === 'user' ? p.user.role : p.kind} may not write ${input.type} records`);
    }
    if (input.t_ms !== undefined && !(Number.isSafeInteger(input.t_ms) && input.t_ms >= 0)) throw new ValidationError('t_ms', 'must be whole ms since the epoch');
    const data = recordData(input.type, input.data);
    const idem = this.#idempotency(p, opts.idempotencyKey, { patient: patientId, type: input.type, t_ms: input.t_ms ?? null, data });
    if (idem) {
      const earlier = await this.#replayed(p, idem);
      if (earlier) return earlier;
    }
    if (input.type === 'rr_file' || input.type === 'ecg_file') return this.#appendUpload(p, patientId, input.type, data, input.t_ms, idem);
    const record: ClinicalRecord = {
      id: `r-${randomUUID()}`,
      patient_id: patientId,
      type: input.type,
      t_ms: input.t_ms ?? Date.now(),
      author: principalName(p),
      created_ms: Date.now(),
      data,
    };
    const out = await this.#append({
      records: [record],
      ...(idem ? { dedupe: idem.ref, idem } : {}),
      event: { actor: record.author, action: `record.write.${record.type}`, target: patientId, outcome: 'ok', detail: { id: record.id } },
    });
    return out.stored ? record : this.#afterDuplicate(p, idem!, patientId, out.firstSeq);
  }

  /** The blind ref of a caller's idempotency key and the hash of its request (undefined without a key). */
  #idempotency(p: Principal, key: string | undefined, request: unknown): { ref: string; hash: string } | undefined {
    if (key === undefined) return undefined;
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw new ValidationError('Idempotency-Key', 'must be 1–255 visible ASCII characters');
    return {
      ref: blindIndex(this.#keys.indexKey, 'idempotency', `${principalName(p)}\0${key}`),
      hash: createHash('sha256').update(canonicalJson(request)).digest('hex'),
    };
  }

  /** The record an earlier request under the same key stored (undefined if none); ConflictError if that request differed. */
  async #replayed(p: Principal, idem: { ref: string; hash: string }): Promise<ClinicalRecord | undefined> {
    const [row] = await this.#db.query<{ body_hash: string; patient_ref: string; seq: number }>('SELECT body_hash, patient_ref, seq FROM csp_idempotency WHERE idem_ref = $1', [
      idem.ref,
    ]);
    if (!row) return undefined;
    if (row.body_hash !== idem.hash) throw new ConflictError('Idempotency-Key: this key was already used for a different request');
    const rec = await this.#readRecord(row.patient_ref, row.seq);
    await this.audit.append({ actor: principalName(p), action: `record.write.${rec.type}`, target: rec.patient_id, outcome: 'ok', detail: { id: rec.id, replayed: true } });
    return rec;
  }

  /**
   * The SP already held the key: normally the CSP's own table then names the record (and the request's hash);
   * if a stopped CSP never wrote it, the record the SP filed first under the key is the caller's own.
   */
  async #afterDuplicate(p: Principal, idem: { ref: string; hash: string }, patientId: string, firstSeq: number | undefined): Promise<ClinicalRecord> {
    const earlier = await this.#replayed(p, idem);
    if (earlier) return earlier;
    const rec = firstSeq === undefined ? undefined : await this.#readRecord(this.#patientRef(patientId), firstSeq);
    if (!rec || rec.author !== principalName(p)) throw new ConflictError('Idempotency-Key: this key was already used for a different request');
    await this.audit.append({ actor: principalName(p), action: `record.write.${rec.type}`, target: patientId, outcome: 'ok', detail: { id: rec.id, replayed: true } });
    return rec;
  }

  /** One stored record, fetched by sequence number and opened (its chain position is the index's). */
  async #readRecord(ref: string, seq: number): Promise<ClinicalRecord> {
    const { records } = await this.link.call<{ records: SpRecordRow[] }>({ op: 'query_records', patient_ref: ref, seqs: [seq], limit: 1 });
    const row = records[0];
    if (row?.seq !== seq) throw new RecordIntegrityError(`record ${seq} was withheld by the SP`);
    const rec = JSON.parse(openRecord(this.#keys.kek, `record|${ref}|${row.seq}|${row.type_tag}`, Buffer.from(row.blob, 'base64url')).toString('utf8')) as ClinicalRecord;
    if (rec.t_ms !== row.t_ms || this.#patientRef(rec.patient_id) !== ref) throw new RecordIntegrityError(`record ${seq} metadata does not match its sealed content`);
    return rec;
  }

  /**
   * An uploaded RR or ECG file: parsed and analysed first (a bad file is refused with the parser's
   * FILE:LINE: reason and nothing is stored), then its file record, one `hrv` record per window and an
   * `rr_batch` of its beats are written in one SP transaction. `startMs` is the recording's start; without
   * it the recording is taken to end now.
   */
  async #appendUpload(
    p: Principal,
    patientId: string,
    type: 'rr_file' | 'ecg_file',
    data: Record<string, unknown>,
    startMs: number | undefined,
    idem: { ref: string; hash: string } | undefined,
  ): Promise<ClinicalRecord> {
    const fileId = `r-${randomUUID()}`;
    const now = Date.now();
    const start = startMs ?? ((durationMs: number) => now - Math.ceil(durationMs));
    let analysis;
    try {
      analysis = type === 'rr_file' ? analyseRrUpload(data as RrFileData, fileId, start) : analyseEcgUpload(data as EcgFileData, fileId, start);
    } catch (err) {
      await this.audit.append({ actor: principalName(p), action: `record.write.${type}`, target: patientId, outcome: 'error', detail: { reason: err instanceof Error ? err.message : String(err) } });
      throw err;
    }
    const author = principalName(p);
    const make = (t: RecordType, t_ms: number, d: unknown, id = `r-${randomUUID()}`): ClinicalRecord => ({
      id,
      patient_id: patientId,
      type: t,
      t_ms,
      author,
      created_ms: now,
      data: recordData(t, d),
    });
    const file = make(type, Math.round(analysis.start_ms), analysis.file, fileId);
    const records = [file, ...analysis.hrv.map((w) => make('hrv', w.t_ms, w.data)), ...analysis.rrBatches.map((b) => make('rr_batch', b.t_ms, b.data))];
    // All or nothing: the same one-transaction append as a pipeline result, under the caller's idempotency
    // key, or one no retry can repeat.
    const out = await this.#append({
      records,
      dedupe: idem?.ref ?? blindIndex(this.#keys.indexKey, 'upload', fileId),
      ...(idem ? { idem } : {}),
      event: { actor: author, action: `record.write.${type}`, target: patientId, outcome: 'ok', detail: { id: fileId, windows: analysis.hrv.length } },
    });
    return out.stored ? file : this.#afterDuplicate(p, idem!, patientId, out.firstSeq);
  }

  /**
   * @deprecated Flat measure objects are what hid the trial's results; `hrv` data must now be an
   * HrvRecordData (the contract), which only `ingestResults` builds. Kept so older callers compile; they
   * get a ContractError naming the missing field.
   */
  ingestHrvResult(patientId: string, tMs: number, measures: Record<string, unknown>): Promise<ClinicalRecord> {
    return this.appendRecord({ kind: 'service', name: 'enclave-ingest' }, patientId, { type: 'hrv', t_ms: tMs, data: measures });
  }

  /**
   * Appends records of one patient in order, crash-atomically (see `#appendNow`). With `plan.dedupe`, all of
   * them go in one SP transaction filed under that key, and a key stored before stores nothing.
   */
  async #append(plan: AppendPlan): Promise<AppendResult> {
    const ref = this.#patientRef(plan.records[0]!.patient_id);
    return this.#underLock(ref, () => this.#appendNow(ref, plan));
  }

  /** Runs `fn` alone for patient `ref`: appends and reconciliations of one chain are serialised. */
  async #underLock<T>(ref: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#appendLocks.get(ref) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    this.#appendLocks.set(ref, run);
    try {
      return await run;
    } finally {
      if (this.#appendLocks.get(ref) === run) this.#appendLocks.delete(ref);
    }
  }

  /**
   * One append, in three commits: (1) the intent — the head it extends and the head it will make, and the
   * audit entry that will account for it — durable in the CSP's database before the SP sees anything; (2) the
   * SP's transaction; (3) one CSP transaction with the index rows, the new head, the audit entry, the
   * idempotency key, the patient's summary, and the intent's removal. A crash between any two leaves an
   * intent that `#reconcile` settles from the SP's head (at start-up, before the patient's next append, and
   * on a conflict): the SP committed → (3) is done then; it did not → the intent is dropped and audited.
   */
  async #appendNow(ref: string, plan: AppendPlan, retried = false): Promise<AppendResult> {
    if (this.#pendingIntents.has(ref)) await this.#reconcile(ref, { onlyIfIntent: true });
    const head = await this.#head(ref);
    const rows = this.#sealRows(ref, head, plan.records);
    const end = rows.at(-1)!;
    const intent: IntentBody = { event: plan.event, ...(plan.idem ? { idem: plan.idem } : {}) };
    await this.#db.query('INSERT INTO csp_append_intents (patient_ref, base_seq, base_chain, end_seq, end_chain, body) VALUES ($1, $2, $3, $4, $5, $6)', [
      ref,
      head.seq,
      head.chain.toString('hex'),
      end.seq,
      end.chain,
      JSON.stringify(intent),
    ]);
    this.#pendingIntents.add(ref);
    let duplicate: { first_seq?: number } | undefined;
    try {
      if (plan.dedupe !== undefined) {
        const answer = await this.link.call<{ duplicate: boolean; first_seq?: number }>({ op: 'append_batch', patient_ref: ref, dedupe_ref: plan.dedupe, records: rows });
        if (answer.duplicate) duplicate = answer;
      } else {
        await this.link.call({ op: 'append_record', patient_ref: ref, ...rows[0]! });
      }
    } catch (err) {
      // Any other failure leaves the outcome unknown: the intent stays, and the SP's head settles it later.
      if (!(err instanceof SpRequestError && err.reason === 'conflict')) throw err;
      // A refusal — or the resend, after a key renewal, of an append the SP had already stored.
      if ((await this.#reconcile(ref)) === 'committed') return { stored: true };
      if (!retried) return this.#appendNow(ref, plan, true);
      throw err;
    }
    if (duplicate) {
      // Stored before under this key — maybe by this very request, resent after a key renewal.
      if ((await this.#reconcile(ref)) === 'committed') return { stored: true };
      return { stored: false, firstSeq: duplicate.first_seq };
    }
    failpoint('csp.after-sp-commit');
    const indexRows = rows.map((r) => ({ seq: r.seq, type_tag: r.type_tag, t_ms: r.t_ms, chain: r.chain, has_meta: r.meta !== undefined }));
    await this.#commitIndex(ref, [{ event: plan.event, rows: indexRows, records: plan.records, ...(plan.idem ? { idem: plan.idem } : {}) }], end);
    failpoint('csp.after-index');
    return { stored: true };
  }

  /** Seals `records` as the next links of the chain at `head`. */
  #sealRows(ref: string, head: { seq: number; chain: Buffer }, records: ClinicalRecord[]): SealedRow[] {
    let seq = head.seq;
    let chain = head.chain;
    return records.map((record) => {
      seq += 1;
      const typeTag = this.#typeTag(record.type);
      const blob = sealRecord(this.#keys.kek, `record|${ref}|${seq}|${typeTag}`, Buffer.from(JSON.stringify(record)));
      chain = chainLink(chain, seq, blob);
      const meta = record.type === 'hrv' ? { metric_tag: this.#metricTag(), ...this.#aggregates.metadata(ref, seq, record.data) } : undefined;
      return { seq, type_tag: typeTag, t_ms: record.t_ms, blob: blob.toString('base64url'), chain: chain.toString('hex'), ...(meta ? { meta } : {}) };
    });
  }

  /**
   * Commit (3): in ONE transaction of the CSP's database, the audit entry of each group with the index rows
   * it accounts for, the new head, idempotency keys, the summary, and the removal of the patient's intent
   * (plus `extra` audit entries, e.g. an aborted intent).
   */
  async #commitIndex(ref: string, groups: IndexGroup[], newHead: { seq: number; chain: string }, extra: AuditEvent[] = []): Promise<void> {
    const events = groups.map((g) => ({ ...g.event, detail: { ...g.event.detail, stored: { ref, first: g.rows[0]!.seq, last: g.rows.at(-1)!.seq } } }));
    const summary = this.#summaries.fold(
      ref,
      groups.flatMap((g) => g.records),
    );
    await this.audit.appendWith([...events, ...extra], async (tx, seqs) => {
      for (const [i, g] of groups.entries()) {
        for (const row of g.rows) {
          await tx.query(
            'INSERT INTO csp_record_index (patient_ref, seq, type_tag, t_ms, has_meta, chain, audit_seq) VALUES ($1, $2, $3, $4, $5, $6, $7)',
            [ref, row.seq, row.type_tag, row.t_ms, row.has_meta, row.chain, seqs[i]],
          );
        }
        if (g.idem) {
          await tx.query('INSERT INTO csp_idempotency (idem_ref, body_hash, patient_ref, seq) VALUES ($1, $2, $3, $4) ON CONFLICT (idem_ref) DO NOTHING', [
            g.idem.ref,
            g.idem.hash,
            ref,
            g.rows[0]!.seq,
          ]);
        }
      }
      await tx.query(
        'INSERT INTO csp_chain_heads (patient_ref, seq, chain) VALUES ($1, $2, $3) ON CONFLICT (patient_ref) DO UPDATE SET seq = EXCLUDED.seq, chain = EXCLUDED.chain',
        [ref, newHead.seq, newHead.chain],
      );
      await summary.write(tx);
      await tx.query('DELETE FROM csp_append_intents WHERE patient_ref = $1', [ref]);
    });
    this.#pendingIntents.delete(ref);
    summary.commit();
    for (const g of groups) for (const rec of g.records) this.events.emit('record', rec);
  }

  /**
   * Brings the CSP's index of patient `ref` level with the SP's head and settles a pending intent:
   * - SP at the CSP's head: nothing was stored; an intent is dropped (audited as not stored).
   * - SP ahead: the records past the CSP's head are read back, each checked to extend the chain and to open
   *   under the CSP's keys (the SP cannot slip in its own), and indexed — under the intent's own audit entry
   *   when they are exactly the intent's, under an `index.catch_up` entry otherwise.
   * - SP behind (it lost records the CSP indexed) but agreeing with the CSP's chain up to its head: the lost
   *   records are moved out of the index into `csp_lost_records`, flagged in the audit log, and appends
   *   continue from the SP's head — a loss is reported, never a patient wedged.
   * With `onlyIfIntent`, returns at once (no SP round trip) when no intent is pending.
   */
  async #reconcile(ref: string, opts: { onlyIfIntent?: boolean } = {}): Promise<'committed' | 'aborted' | 'none'> {
    const [row] = await this.#db.query<{ base_seq: number; base_chain: string; end_seq: number; end_chain: string; body: string }>(
      'SELECT base_seq, base_chain, end_seq, end_chain, body FROM csp_append_intents WHERE patient_ref = $1',
      [ref],
    );
    if (!row) this.#pendingIntents.delete(ref);
    if (!row && opts.onlyIfIntent) return 'none';
    const intent = row ? { ...row, ...(JSON.parse(row.body) as IntentBody) } : undefined;
    const aborted = (why: string): AuditEvent[] =>
      intent ? [{ ...intent.event, outcome: 'error', detail: { ...intent.event.detail, reason: `not stored: ${why}` } }] : [];
    const head = await this.#head(ref);
    const headHex = head.chain.toString('hex');
    const sp = await this.link.call<{ seq: number; chain: string }>({ op: 'head', patient_ref: ref });
    if (sp.seq === head.seq && sp.chain === headHex) {
      if (!intent) return 'none';
      await this.audit.appendWith(aborted('the SP never committed it'), async (tx) => {
        await tx.query('DELETE FROM csp_append_intents WHERE patient_ref = $1', [ref]);
      });
      this.#pendingIntents.delete(ref);
      return 'aborted';
    }
    if (sp.seq <= head.seq) return this.#rebase(ref, head, sp, aborted('the SP lost it'));
    const found = await this.#readChainAfter(ref, head);
    const mine = intent !== undefined && intent.base_seq === head.seq && intent.base_chain === headHex && found.find((f) => f.row.seq === intent.end_seq)?.row.chain === intent.end_chain;
    const groups: IndexGroup[] = [];
    const split = mine ? found.findIndex((f) => f.row.seq === intent.end_seq) + 1 : 0;
    if (mine) {
      groups.push({ event: intent.event, rows: found.slice(0, split).map((f) => f.row), records: found.slice(0, split).map((f) => f.rec), ...(intent.idem ? { idem: intent.idem } : {}) });
    }
    if (split < found.length) {
      const rest = found.slice(split);
      groups.push({
        event: { actor: 'csp', action: 'index.catch_up', target: rest[0]!.rec.patient_id, outcome: 'ok', detail: { records: rest.length, ids: rest.map((f) => f.rec.id) } },
        rows: rest.map((f) => f.row),
        records: rest.map((f) => f.rec),
      });
    }
    const last = found.at(-1)!.row;
    await this.#commitIndex(ref, groups, { seq: last.seq, chain: last.chain }, mine ? [] : aborted('the SP holds other records in its place'));
    return mine ? 'committed' : intent ? 'aborted' : 'none';
  }

  /** The SP's records of `ref` after the CSP's head, each checked to extend the chain and to open under the CSP's keys. */
  async #readChainAfter(ref: string, head: { seq: number; chain: Buffer }): Promise<Array<{ row: IndexRow; rec: ClinicalRecord }>> {
    const out: Array<{ row: IndexRow; rec: ClinicalRecord }> = [];
    let prev = head.chain;
    let seq = head.seq;
    for (;;) {
      const { records } = await this.link.call<{ records: SpRecordRow[] }>({ op: 'query_records', patient_ref: ref, after_seq: seq, limit: 10_000 });
      for (const row of records) {
        const blob = Buffer.from(row.blob, 'base64url');
        if (row.seq !== seq + 1) throw new RecordIntegrityError(`catch-up: record ${seq + 1} is missing at the SP`);
        const link = chainLink(prev, row.seq, blob);
        if (link.toString('hex') !== row.chain) throw new RecordIntegrityError(`catch-up: record ${row.seq} breaks the chain`);
        const rec = JSON.parse(openRecord(this.#keys.kek, `record|${ref}|${row.seq}|${row.type_tag}`, blob).toString('utf8')) as ClinicalRecord;
        if (rec.t_ms !== row.t_ms || this.#typeTag(rec.type) !== row.type_tag) throw new RecordIntegrityError(`catch-up: record ${row.seq} metadata does not match`);
        out.push({ row: { seq: row.seq, type_tag: row.type_tag, t_ms: row.t_ms, chain: row.chain, has_meta: rec.type === 'hrv' }, rec });
        prev = link;
        seq = row.seq;
      }
      if (records.length < 10_000) return out;
    }
  }

  /**
   * The SP is at or behind the CSP's head on another chain value: it lost records the CSP indexed (restored
   * from a backup, a disk that lied about a flush). If the SP's head is a link the CSP itself indexed, the
   * records after it are moved to `csp_lost_records`, flagged in the audit log, and the chain continues from
   * the SP's head. Anything else is a fork the SP cannot have made honestly: an integrity failure.
   */
  async #rebase(ref: string, head: { seq: number }, sp: { seq: number; chain: string }, extra: AuditEvent[]): Promise<'aborted' | 'none'> {
    const [at] = sp.seq === 0 ? [{ chain: CHAIN_GENESIS.toString('hex') }] : await this.#db.query<{ chain: string | null }>('SELECT chain FROM csp_record_index WHERE patient_ref = $1 AND seq = $2', [ref, sp.seq]);
    if (at?.chain !== sp.chain) {
      await this.audit.append({ actor: 'csp', action: 'integrity.failure', target: ref, outcome: 'error', flagged: true, detail: { reason: `the SP's chain (record ${sp.seq}) is not the CSP's (head ${head.seq})` } });
      throw new RecordIntegrityError(`the SP's chain for this patient forks from the CSP's at or before record ${sp.seq}`);
    }
    await this.audit.appendWith(
      [{ actor: 'csp', action: 'integrity.records_lost', target: ref, outcome: 'error', flagged: true, detail: { first: sp.seq + 1, last: head.seq, count: head.seq - sp.seq } }, ...extra],
      async (tx, seqs) => {
        await tx.query(
          'INSERT INTO csp_lost_records (patient_ref, seq, type_tag, t_ms, audit_seq, lost_audit_seq) SELECT patient_ref, seq, type_tag, t_ms, audit_seq, $3 FROM csp_record_index WHERE patient_ref = $1 AND seq > $2',
          [ref, sp.seq, seqs[0]],
        );
        await tx.query('DELETE FROM csp_record_index WHERE patient_ref = $1 AND seq > $2', [ref, sp.seq]);
        // The keys of lost records no longer name a stored record: a resend must store it again.
        await tx.query('DELETE FROM csp_idempotency WHERE patient_ref = $1 AND seq > $2', [ref, sp.seq]);
        await tx.query('UPDATE csp_chain_heads SET seq = $2, chain = $3 WHERE patient_ref = $1', [ref, sp.seq, sp.chain]);
        await tx.query('DELETE FROM csp_append_intents WHERE patient_ref = $1', [ref]);
      },
    );
    this.#pendingIntents.delete(ref);
    return extra.length > 0 ? 'aborted' : 'none';
  }

  /** Settles every intent left by a CSP that stopped mid-append; a patient that cannot be settled now is retried at its next append. */
  async #recoverIntents(): Promise<void> {
    const refs = await this.#db.query<{ patient_ref: string }>('SELECT patient_ref FROM csp_append_intents');
    for (const { patient_ref: ref } of refs) {
      this.#pendingIntents.add(ref);
      try {
        await this.#underLock(ref, () => this.#reconcile(ref));
      } catch (err) {
        await this.audit.append({ actor: 'csp', action: 'index.reconcile', target: ref, outcome: 'error', detail: { reason: err instanceof Error ? err.message : String(err) } });
      }
    }
  }

  /** Rebuilds, from the SP's records, the summary of every patient with records but no (readable) summary. */
  async #rebuildSummaries(): Promise<void> {
    const heads = await this.#db.query<{ patient_ref: string }>('SELECT patient_ref FROM csp_chain_heads WHERE seq > 0');
    for (const { patient_ref: ref } of heads) {
      if (this.#summaries.has(ref)) continue;
      try {
        await this.#underLock(ref, async () => {
          const found = await this.#readChainAfter(ref, { seq: 0, chain: CHAIN_GENESIS });
          const summary = this.#summaries.fold(ref, found.map((f) => f.rec), EMPTY_SUMMARY);
          await summary.write(this.#db);
          summary.commit();
          await this.audit.append({ actor: 'csp', action: 'summary.rebuild', target: ref, outcome: 'ok', detail: { records: found.length } });
        });
      } catch (err) {
        await this.audit.append({ actor: 'csp', action: 'summary.rebuild', target: ref, outcome: 'error', detail: { reason: err instanceof Error ? err.message : String(err) } });
      }
    }
  }

  async #head(ref: string): Promise<{ seq: number; chain: Buffer }> {
    const [row] = await this.#db.query<{ seq: number; chain: string }>('SELECT seq, chain FROM csp_chain_heads WHERE patient_ref = $1', [ref]);
    return row ? { seq: row.seq, chain: Buffer.from(row.chain, 'hex') } : { seq: 0, chain: CHAIN_GENESIS };
  }

  // ---------- Protocol II, Phase II: retrieval ----------

  async #authorizeRead(p: Principal, patientId: string, action: string, breakGlassReason?: string): Promise<boolean> {
    if (this.#patientExists(patientId) && canSeePatient(p, patientId)) return false;
    if (breakGlassReason !== undefined && this.#patientExists(patientId) && decideBreakGlass(p, breakGlassReason) === 'allow') {
      await this.audit.append({ actor: principalName(p), action: `${action}.break_glass`, target: patientId, outcome: 'ok', flagged: true, detail: { reason: breakGlassReason } });
      return true;
    }
    await this.audit.append({ actor: principalName(p), action, target: patientId, outcome: 'denied' });
    if (breakGlassReason !== undefined && p.kind === 'user' && p.user.role === 'doctor') {
      throw new ValidationError('reason', 'break-glass access needs a stated reason of at least 10 characters');
    }
    throw new NotFoundError('no such patient');
  }

  /** Reads a patient's records of `type` in [from_ms, to_ms); records failing verification are reported, not returned. */
  async getRecords(
    p: Principal,
    patientId: string,
    q: { type?: RecordType; from_ms?: number; to_ms?: number; limit?: number; offset?: number; order?: 'asc' | 'desc'; break_glass_reason?: string } = {},
  ): Promise<RecordsAnswer> {
    if (q.type !== undefined && !RECORD_TYPES.includes(q.type)) throw new ValidationError('type', `must be one of ${RECORD_TYPES.join(', ')}`);
    const brokeGlass = await this.#authorizeRead(p, patientId, 'record.read', q.break_glass_reason);
    const ref = this.#patientRef(patientId);
    const limit = Math.min(q.limit ?? 1000, 10_000);
    const offset = Math.max(0, Math.floor(q.offset ?? 0));
    const dir = q.order === 'desc' ? 'DESC' : 'ASC';
    // The page is chosen from the CSP's own index (time order), then fetched by sequence number: the SP
    // cannot choose what is in it, and anything it withholds or adds is seen against the index.
    const where = recordFilterSql({
      patient_ref: ref,
      ...(q.type ? { type_tags: [this.#typeTag(q.type)] } : {}),
      ...(q.from_ms !== undefined ? { from_ms: q.from_ms } : {}),
      ...(q.to_ms !== undefined ? { to_ms: q.to_ms } : {}),
      limit: 1,
    });
    const whereSql = where.sql.slice(0, where.sql.indexOf(' ORDER BY'));
    const whereParams = where.params.slice(0, -1);
    const [{ c: total } = { c: 0 }] = await this.#db.query<{ c: number | string }>(`SELECT count(*) AS c FROM csp_record_index ${whereSql}`, whereParams);
    const page = (
      await this.#db.query<{ seq: number }>(
        `SELECT seq FROM csp_record_index ${whereSql} ORDER BY t_ms ${dir}, seq ${dir} OFFSET $${whereParams.length + 1} LIMIT $${whereParams.length + 2}`,
        [...whereParams, offset, limit],
      )
    ).map((r) => r.seq);
    const out: RecordsAnswer = { total: Number(total), records: [], integrity_failures: [] };
    const answer =
      page.length === 0 ? { records: [] as SpRecordRow[] } : await this.link.call<{ records: SpRecordRow[] }>({ op: 'query_records', patient_ref: ref, seqs: page, limit: page.length });
    const expected = new Set(page);
    const answered = new Set(answer.records.map((r) => r.seq));
    for (const seq of expected) if (!answered.has(seq)) out.integrity_failures.push({ seq, reason: `record ${seq} was withheld by the SP` });
    const bySeq = new Map<number, RecordView>();
    for (const row of answer.records) {
      try {
        if (!expected.has(row.seq)) throw new RecordIntegrityError(`record ${row.seq} does not belong in this answer`);
        const blob = Buffer.from(row.blob, 'base64url');
        const rec = JSON.parse(openRecord(this.#keys.kek, `record|${ref}|${row.seq}|${row.type_tag}`, blob).toString('utf8')) as ClinicalRecord;
        if (rec.patient_id !== patientId || rec.t_ms !== row.t_ms) throw new RecordIntegrityError(`record ${row.seq} metadata does not match its sealed content`);
        bySeq.set(row.seq, { ...rec, author_name: this.#authorName(rec.author) });
      } catch (err) {
        if (!(err instanceof RecordIntegrityError || err instanceof SyntaxError)) throw err;
        out.integrity_failures.push({ seq: row.seq, reason: err.message });
      }
    }
    for (const seq of page) {
      const rec = bySeq.get(seq);
      if (rec) out.records.push(rec);
    }
    if (out.integrity_failures.length > 0) {
      await this.audit.append({ actor: 'csp', action: 'integrity.failure', target: patientId, outcome: 'error', flagged: true, detail: { seqs: out.integrity_failures.map((f) => f.seq) } });
      await this.link.integrityFailure(`${out.integrity_failures.length} stored record(s) failed verification`);
    }
    await this.audit.append({
      actor: principalName(p),
      action: brokeGlass ? 'record.read.break_glass' : 'record.read',
      target: patientId,
      outcome: 'ok',
      flagged: brokeGlass,
      detail: { type: q.type ?? 'all', count: out.records.length },
    });
    return out;
  }

  /** Re-reads a patient's whole chain and checks every link up to the CSP's recorded head. */
  async verifyPatientChain(patientId: string): Promise<{ ok: boolean; records: number; problem?: string }> {
    const ref = this.#patientRef(patientId);
    const head = await this.#head(ref);
    const { records } = await this.link.call<{ records: SpRecordRow[] }>({ op: 'query_records', patient_ref: ref, limit: 10_000 });
    let prev: Buffer = CHAIN_GENESIS;
    for (let i = 0; i < records.length; i++) {
      const row = records[i]!;
      if (row.seq !== i + 1) return { ok: false, records: records.length, problem: `record ${i + 1} is missing` };
      const link = chainLink(prev, row.seq, Buffer.from(row.blob, 'base64url'));
      if (link.toString('hex') !== row.chain) return { ok: false, records: records.length, problem: `record ${row.seq} breaks the chain` };
      prev = link;
    }
    if (records.length !== head.seq || !prev.equals(head.chain)) {
      return { ok: false, records: records.length, problem: `the SP holds ${records.length} records but the chain head is ${head.seq}` };
    }
    return { ok: true, records: records.length };
  }

  /**
   * Mean of `metric` over HRV records in [from_ms, to_ms) for one patient or all the caller's patients,
   * computed by the SP as a Paillier sum and decrypted here.
   */
  async aggregate(
    p: Principal,
    scope: { patient_id: string } | { mine: true },
    metric: AggregateMetric,
    fromMs: number,
    toMs: number,
  ): Promise<{ metric: AggregateMetric; mean: number | null; n: number; patients: number; from_ms: number; to_ms: number }> {
    if (!AGGREGATE_METRICS.includes(metric)) throw new ValidationError('metric', `must be one of ${AGGREGATE_METRICS.join(', ')}`);
    if (!(toMs > fromMs)) throw new ValidationError('to', 'must be after from');
    let patients: string[];
    if ('patient_id' in scope) {
      await this.#authorizeRead(p, scope.patient_id, 'aggregate.read');
      patients = [scope.patient_id];
    } else {
      if (p.kind !== 'user' || p.user.role === 'admin') throw new ForbiddenError('aggregates over patients need a clinical role');
      patients = this.listPatients(p).map((x) => x.patient_id);
    }
    if (patients.length === 0) return { metric, mean: null, n: 0, patients: 0, from_ms: fromMs, to_ms: toMs };
    const { mean, n } = await this.#aggregates.mean(
      patients.map((id) => this.#patientRef(id)),
      this.#metricTag(),
      metric,
      fromMs,
      toMs,
    );
    await this.audit.append({ actor: principalName(p), action: 'aggregate.read', target: 'patient_id' in scope ? scope.patient_id : 'mine', outcome: 'ok', detail: { metric, patients: patients.length } });
    return { metric, mean, n, patients: patients.length, from_ms: fromMs, to_ms: toMs };
  }

  /**
   * Lifts the suspension of aggregates that a forged aggregate set (admins only; `reason` is kept in the
   * flagged audit entry). True if aggregates were suspended.
   */
  async resumeAggregates(p: Principal, reason: string): Promise<boolean> {
    if (p.kind !== 'user' || p.user.role !== 'admin') {
      await this.audit.append({ actor: principalName(p), action: 'aggregate.resume', outcome: 'denied', detail: {} });
      throw new ForbiddenError('only an admin resumes aggregates');
    }
    if (typeof reason !== 'string' || reason.trim().length < 10 || reason.length > 500) throw new ValidationError('reason', 'must say why, in 10–500 characters');
    return this.#aggregates.resume(principalName(p), reason.trim());
  }

  /** Since when (ms since the epoch) aggregates are suspended after a forgery, or null. */
  get aggregatesSuspendedSince(): number | null {
    return this.#aggregates.suspendedSince ?? null;
  }

  /** Verifies the whole audit chain, its anchor, and that every stored record has the entry that stored it. */
  verifyAudit(): Promise<AuditVerification> {
    return this.audit.verify();
  }
}

/** The AEAD context of a user or device entry: its kind, blind ref and version, so no other row's blob opens as it. */
function entryContext(kind: TrackedKind, ref: string, version: number): string {
  return `${kind}|${ref}|v${version}`;
}

/** A record's data checked against its type's contract; a failure names the field under `data`. */
function recordData(type: RecordType, data: unknown): Record<string, unknown> {
  try {
    return parseRecordData(type, data) as Record<string, unknown>;
  } catch (err) {
    if (!(err instanceof ContractError)) throw err;
    const problem = err.message.slice(err.message.indexOf(': ', err.contract.length + 2) + 2);
    throw new ContractError(err.contract, err.field ? `data.${err.field}` : 'data', problem, { cause: err });
  }
}

/** JSON with object keys sorted, so equal requests hash equally whatever their key order. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The name an audit entry uses for a principal. */
export function principalName(p: Principal): string {
  if (p.kind === 'user') return p.user.user_id;
  if (p.kind === 'device') return `device:${p.device.device_id}`;
  return `service:${p.name}`;
}

function view(u: UserRecord): UserView {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- secrets are removed on purpose
  const { verifier, enrol, ...rest } = u;
  return rest;
}
