/**
 * The gateway: MQTT intake with a persistent session, the durable spool, the timer-driven batcher, sealed
 * SFTP upload to the attested enclave, and result intake. See docs/pipeline.md for the data flow.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import SftpClient from 'ssh2-sftp-client';
import {
  EnvelopeError,
  keyIdOf,
  pseudonymise,
  verifyQuoteDetails,
  type VerifiedQuote,
} from '../crypto/index.js';
import { hrvResultSchema, parseContract, RESULT_BUNDLE_NAME, splitResultBundle, type HrvResult } from '../contracts/index.js';
import { HrvaultError } from '../errors.js';
import { failpoint } from '../failpoints/index.js';
import { beatMessageSchema, deviceOfTopic, RR_MAX_MS, RR_MIN_MS } from '../sensor/index.js';
import { AttestedKeys } from './attested-keys.js';
import { batchFileName, encodeBatchFile, openResultFile } from './batch-file.js';
import { startCspForwarder } from './csp-forwarder.js';
import { ResultOutbox } from './result-outbox.js';
import { EnclaveCommits, EnclaveRollbackError } from './enclave-commits.js';
import { GatewayEpochs, type EpochPolicy } from './epoch-keys.js';
import { Spool, type PendingBatch, type SpoolIo } from './spool.js';

export interface GatewayOptions {
  id: string;
  dataDir: string;
  mqtt: {
    url: string;
    topicPrefix: string;
    username: string;
    password: string;
    /** default hrvault-gateway-<id> */ clientId?: string;
    /** PEM CA the broker's TLS certificate must chain to (mqtts:// URLs); undefined = the system's CAs. */
    ca?: string;
  };
  /** Registered devices: device id → patient id. Beats from anything else are refused. */
  devices: Record<string, string>;
  batchIntervalMs: number;
  mode: 'secure' | 'plain';
  sftp: {
    host: string;
    port: number;
    privateKey: string;
    /** OpenSSH fingerprint (SHA256:…) of the cloud's host key; undefined = accept any */ hostFingerprint?: string;
    /** Every SFTP operation fails after this long, ms (default 20,000); the connection is then dropped. */
    timeoutMs?: number;
    /** SSH keepalive interval, ms (default 5,000); three unanswered keepalives end the connection. */
    keepaliveMs?: number;
  };
  /** A beat time further ahead of the gateway's clock than this is quarantined, ms (default 1 h). */
  maxFutureMs?: number;
  /** How long a sequence gap holds the beats after it back from the cut, ms (default 10,000). */
  reorderHoldMs?: number;
  /** A beat numbered more than this ahead of its device's highest is quarantined alone (default 10,000 beats). */
  maxSeqJump?: number;
  /** The spool's file operations (tests substitute a disk that fills up); default node:fs. */
  spoolIo?: SpoolIo;
  /** Required in secure mode. */
  attestation?: {
    platformPublicKey: Uint8Array;
    allowedMeasurements: string[];
    allowSoftwareQuotes: boolean;
    /** Re-attest when the last attestation is older than this, ms (0 or undefined: once per connection), so new files go to a rotated key. */
    maxAgeMs?: number;
  };
  /** Gateway's own keys: Ed25519 signing seed, X25519 HPKE private key (results are sealed to its public half), pseudonym key. */
  keys: { signingPrivateKey: Uint8Array; hpkePrivateKey: Uint8Array; pseudonymKey: Uint8Array };
  /**
   * Sealed-file version the gateway writes (default 2: HPKE and a signature once per epoch, AES-256-GCM per file;
   * 1: HPKE and a signature per file). Results are read in either version.
   */
  sealVersion?: 1 | 2;
  /** When a version-2 epoch ends and how long its secret is kept (epoch-keys.ts; defaults there). */
  epochPolicy?: Partial<EpochPolicy>;
  /** Plaintext batch sizes (bytes) are padded up to the next bucket. */
  bucketBytes: number[];
  retryMaxMs: number;
  /** How often the outbox is polled for results, ms (default: a fifth of the batch interval). */
  resultPollMs?: number;
  logger: Logger;
  /** Called once with each opened, verified and durably kept result (patient is the real id); replays are not passed on. */
  onResult?: (result: GatewayResult) => void | Promise<void>;
  /**
   * Where verified results go: the CSP's base URL. Results are kept in the gateway's durable outbox until the CSP
   * acknowledges them. Undefined = nobody receives them (tests of the pipeline alone); they are dropped from the
   * outbox once `onResult` returned.
   */
  csp?: { url: string; timeoutMs?: number };
}

/** A verified result, as handed to `onResult`. */
export interface GatewayResult {
  patient: string;
  seq: number;
  tStartMs: number;
  tEndMs: number;
  /** The result document the enclave (or the plain-mode host) produced, validated against its contract. */
  body: HrvResult;
}

/** Parses an opened result's JSON against the HrvResult contract and its authenticated header; throws HRV_ERR_RESULT naming the problem. */
export function parseResultBody(text: string, header: { patient: string; seq: number }): HrvResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new HrvaultError('HRV_ERR_RESULT', 'result body is not JSON', { cause: err });
  }
  let body: HrvResult;
  try {
    body = parseContract('hrv-result', hrvResultSchema, json);
  } catch (err) {
    throw new HrvaultError('HRV_ERR_RESULT', err instanceof Error ? err.message : String(err), {
      cause: err,
    });
  }
  if (body.patient !== header.patient || body.seq !== header.seq)
    throw new HrvaultError(
      'HRV_ERR_RESULT',
      `result body names ${body.patient}#${body.seq}, its header ${header.patient}#${header.seq}`,
    );
  return body;
}

export interface GatewayStats {
  received: number;
  accepted: number;
  duplicates: number;
  malformed: number;
  impossible: number;
  unknown_device: number;
  /** Beats quarantined for an impossible time (stepping back within a boot epoch, or far ahead of our clock). */
  quarantined: number;
  /** Beats never received between ones that were, per device and boot epoch (the demo's `lost`). */
  seq_gaps: number;
  /** Late beats that filled a gap. */
  late_filled: number;
  /** Devices seen restarting their sequence under a new boot epoch. */
  epoch_restarts: number;
  recovered: number;
  /** fdatasync calls on spool segments since start. */
  spool_syncs: number;
  /** PUBACKs sent to the broker (each after the fdatasync covering its beat). */
  pubacks: number;
  /** Spool writes that failed (a full disk): intake pauses until a retry succeeds. */
  spool_write_failures: number;
  intake_pauses: number;
  /** True while the spool cannot write: no beat is acknowledged meanwhile. */
  intake_paused: boolean;
  files_cut: number;
  files_uploaded: number;
  bytes_uploaded: number;
  upload_failures: number;
  pending_files: number;
  buffered_beats: number;
  attestations: number;
  attestation_failures: number;
  results_verified: number;
  results_rejected: number;
  /** Result files for a (patient, seq) already kept: a replay, not passed on. */
  results_replayed: number;
  /**
   * Results refused because they come from a rolled-back enclave state (HRV_ERR_ENCLAVE_ROLLBACK: a commit number
   * repeated under another id, far behind the newest, or a batch analysed a second time); also in results_rejected.
   */
  results_rollback: number;
  beats_in_results: number;
  alerts: number;
  /** Results the CSP acknowledged (stored, or already stored). */
  results_delivered: number;
  /** Results the CSP refused as malformed (kept aside in results/rejected/). */
  results_undeliverable: number;
  /** Results in the outbox waiting for the CSP. */
  results_waiting: number;
}

export interface GatewayHandle {
  stats(): GatewayStats;
  /**
   * Cuts the current interval now and waits until everything pending is uploaded (used at shutdown). Beats held
   * back behind a sequence gap stay in the spool for a later cut, unless `releaseHeld` (the end of a run: the gap
   * is given up).
   */
  flush(timeoutMs?: number, o?: { releaseHeld?: boolean }): Promise<void>;
  /** Waits until the CSP has acknowledged every kept result (or the timeout passes); resolves to whether it has. */
  deliverResults(timeoutMs: number): Promise<boolean>;
  /** Waits until `n` results have been verified (or the timeout passes); resolves to whether they were. */
  waitForResults(n: number, timeoutMs: number): Promise<boolean>;
  /**
   * Stops within `timeoutMs` (default 10,000): work in flight gets that long, the PUBACKs of beats already queued are
   * sent if their fdatasync returns in time; anything cut short is still durable (pending batches, spool segments)
   * or was never acknowledged (the broker redelivers it).
   */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Subscribes to the beat topic, again after each reconnect until the broker grants it: a connection that drops
 * while the SUBSCRIBE is in flight (a broker restarting, a redelivery burst) must not kill a gateway that a
 * supervisor would only start again into the same race. A refusal by the broker (SUBACK failure) is final.
 */
async function subscribeUntilGranted(client: MqttClient, topic: string, log: GatewayOptions['logger']): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const granted = await client.subscribeAsync(topic, { qos: 1 });
      const refused = granted.find((g) => g.qos === 128);
      if (refused !== undefined)
        throw new HrvaultError('HRV_ERR_CONFIG', `the MQTT broker refused the gateway's subscription to ${topic}`);
      return;
    } catch (err) {
      if (err instanceof HrvaultError || client.disconnecting) throw err;
      log.warn({ err: err instanceof Error ? err.message : String(err), attempt }, 'MQTT subscribe lost with its connection; subscribing again after the reconnect');
      if (!client.connected) await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    }
  }
}

/** OpenSSH-style fingerprint of a raw SSH public key blob. */
export function sshFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for `p` (its failure ignored) or until `deadline` (epoch ms), whichever comes first. */
async function untilDeadline(p: Promise<unknown> | undefined, deadline: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.resolve(p).catch(() => undefined),
    new Promise<void>((r) => (t = setTimeout(r, Math.max(0, deadline - Date.now())))),
  ]);
  clearTimeout(t);
}

/** Result names the gateway accepts from its outbox (anything else there is left alone and logged once). */
const RESULT_NAME = /^[A-Za-z0-9_-]{1,64}-\d{1,15}\.(result|json)$/;

/** Orders `<pseudonym>-<seq>.<ext>` names by pseudonym, then by the seq's numeric value. */
function byPatientThenSeq(a: string, b: string): number {
  const split = (n: string): [string, number] => {
    const m = /^(.*)-(\d+)\.[a-z]+$/.exec(n)!;
    return [m[1]!, Number(m[2])];
  };
  const [pa, sa] = split(a);
  const [pb, sb] = split(b);
  return pa < pb ? -1 : pa > pb ? 1 : sa - sb;
}

export { batchFileName };

/** Starts the gateway: opens (and recovers) the spool, subscribes, and runs the batch timer. */
export async function startGateway(opts: GatewayOptions): Promise<GatewayHandle> {
  const log = opts.logger;
  if (opts.mode === 'secure' && opts.attestation === undefined)
    throw new HrvaultError(
      'HRV_ERR_CONFIG',
      'secure mode needs the pinned platform key and measurement allow-list',
    );
  const spool = new Spool(opts.dataDir, {
    ...(opts.spoolIo ? { io: opts.spoolIo } : {}),
    ...(opts.maxFutureMs === undefined ? {} : { maxFutureMs: opts.maxFutureMs }),
    ...(opts.reorderHoldMs === undefined ? {} : { reorderHoldMs: opts.reorderHoldMs }),
    ...(opts.maxSeqJump === undefined ? {} : { maxSeqJump: opts.maxSeqJump }),
  });
  const st: GatewayStats = {
    received: 0,
    accepted: 0,
    duplicates: 0,
    malformed: 0,
    impossible: 0,
    unknown_device: 0,
    quarantined: 0,
    seq_gaps: 0,
    late_filled: 0,
    epoch_restarts: 0,
    recovered: spool.recovered,
    spool_syncs: 0,
    pubacks: 0,
    spool_write_failures: 0,
    intake_pauses: 0,
    intake_paused: false,
    files_cut: 0,
    files_uploaded: 0,
    bytes_uploaded: 0,
    upload_failures: 0,
    pending_files: 0,
    buffered_beats: 0,
    attestations: 0,
    attestation_failures: 0,
    results_verified: 0,
    results_rejected: 0,
    results_replayed: 0,
    results_rollback: 0,
    beats_in_results: 0,
    alerts: 0,
    results_delivered: 0,
    results_undeliverable: 0,
    results_waiting: 0,
  };
  const outbox = ResultOutbox.open(join(opts.dataDir, 'results'));
  const commits = EnclaveCommits.open(join(opts.dataDir, 'results', 'enclave-commits.json'));
  const forwarder =
    opts.csp === undefined
      ? undefined
      : startCspForwarder({
          url: opts.csp.url,
          timeoutMs: opts.csp.timeoutMs,
          gatewayId: opts.id,
          signingPrivateKey: opts.keys.signingPrivateKey,
          outbox,
          logger: log,
          retryMaxMs: opts.retryMaxMs,
        });
  forwarder?.kick();
  spool.onPause = (err) => {
    st.intake_pauses++;
    log.error({ err: err.message }, 'spool cannot write: intake paused, nothing acknowledged until it can');
  };
  spool.onResume = () => log.info('spool writes again: intake resumed');
  if (spool.recovered > 0) log.info({ beats: spool.recovered }, 'recovered spooled beats after restart');
  const pseudonyms = new Map<string, string>();
  const realOf = new Map<string, string>();
  const pseudonymOf = (patient: string): string => {
    let p = pseudonyms.get(patient);
    if (p === undefined) {
      p = pseudonymise(patient, opts.keys.pseudonymKey);
      pseudonyms.set(patient, p);
      realOf.set(p, patient);
    }
    return p;
  };
  for (const patient of Object.values(opts.devices)) pseudonymOf(patient);

  // --- intake -------------------------------------------------------------------------------------------
  const refuse = (
    kind: 'malformed' | 'impossible' | 'unknown_device',
    code: string,
    topic: string,
    problem: string,
  ): void => {
    st[kind]++;
    log.warn({ code, topic }, `beat refused: ${problem}`);
  };
  /** Validates and spools one message; resolves when it may be acknowledged (refused messages are acked too, so the broker does not redeliver them forever). */
  const intake = async (topic: string, payload: Buffer): Promise<void> => {
    st.received++;
    const device = deviceOfTopic(opts.mqtt.topicPrefix, topic);
    const patient = device === undefined ? undefined : opts.devices[device];
    if (device === undefined || patient === undefined)
      return refuse('unknown_device', 'HRV_ERR_UNKNOWN_DEVICE', topic, `unknown device on topic ${topic}`);
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return refuse('malformed', 'HRV_ERR_BEAT_PAYLOAD', topic, `payload from ${device} is not JSON`);
    }
    const parsed = beatMessageSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.');
      const impossible =
        ['rr_ms', 't_ms', 'seq'].includes(field) &&
        typeof (json as Record<string, unknown>)[field] === 'number';
      return refuse(
        impossible ? 'impossible' : 'malformed',
        impossible ? 'HRV_ERR_BEAT_VALUE' : 'HRV_ERR_BEAT_PAYLOAD',
        topic,
        impossible
          ? `impossible ${field} from ${device}: ${String((json as Record<string, unknown>)[field])} (rr_ms must be ${RR_MIN_MS}–${RR_MAX_MS})`
          : `malformed payload from ${device}: ${field || '(root)'}: ${issue.message}`,
      );
    }
    const b = parsed.data;
    if (b.patient !== patient)
      return refuse(
        'unknown_device',
        'HRV_ERR_UNKNOWN_DEVICE',
        topic,
        `device ${device} is registered for another patient than ${b.patient}`,
      );
    const outcome = await spool.append({
      p: b.patient,
      s: b.seq,
      t: b.t_ms,
      r: b.rr_ms,
      ...(b.epoch ? { e: b.epoch } : {}),
    });
    if (outcome === 'duplicate') st.duplicates++;
    else if (outcome === 'quarantined')
      log.warn(
        { code: 'HRV_ERR_BEAT_VALUE', topic, seq: b.seq, t_ms: b.t_ms, ...(b.epoch ? { epoch: b.epoch } : {}) },
        'beat quarantined: impossible time or sequence number (set aside alone; the device state is left as it was)',
      );
    else st.accepted++;
  };

  const client: MqttClient = mqtt.connect(opts.mqtt.url, {
    clientId: opts.mqtt.clientId ?? `hrvault-gateway-${opts.id}`,
    username: opts.mqtt.username,
    password: opts.mqtt.password,
    ...(opts.mqtt.ca === undefined ? {} : { ca: opts.mqtt.ca }),
    clean: false,
    reconnectPeriod: 500,
  });
  // Group commit. mqtt.js takes one message at a time and sends its PUBACK when handleMessage calls back, which
  // would allow one fdatasync per beat. So handleMessage calls back as soon as the beat is queued in the spool, and
  // the PUBACK itself is held here until the fdatasync covering that beat (or, for a refused or duplicate message,
  // everything before it) has returned: the broker forgets nothing the gateway has not made durable, and PUBACKs
  // leave in the order the messages came. A PUBACK whose connection has gone is dropped: the broker redelivers the
  // message on the new session and the spool recognises it as a duplicate. Set before queued messages arrive.
  const raw = client as unknown as {
    stream: unknown;
    _sendPacket: (
      packet: { cmd: string; messageId?: number },
      cb?: (err?: Error) => void,
      ...rest: unknown[]
    ) => void;
  };
  const sendPacket = raw._sendPacket.bind(client);
  const held = new Map<number, { durable: Promise<void>; stream: unknown }>();
  raw._sendPacket = (packet, cb, ...rest) => {
    const h =
      packet.cmd === 'puback' && packet.messageId !== undefined ? held.get(packet.messageId) : undefined;
    if (h === undefined) {
      sendPacket(packet, cb, ...rest);
      return;
    }
    held.delete(packet.messageId!);
    cb?.();
    void h.durable.then(() => {
      if (raw.stream !== h.stream || !client.connected) return;
      st.pubacks++;
      sendPacket(packet, undefined, ...rest);
    });
  };
  client.handleMessage = (packet, callback) => {
    if (packet.cmd !== 'publish') {
      callback();
      return;
    }
    const durable = intake(packet.topic, packet.payload as Buffer).catch((err: unknown) => {
      log.error(
        { err: err instanceof Error ? err.message : String(err), topic: packet.topic },
        'intake failed; beat not acknowledged',
      );
      // No PUBACK: the broker keeps the message and redelivers it to the persistent session.
      return new Promise<void>(() => undefined);
    });
    if (packet.qos > 0 && packet.messageId !== undefined)
      held.set(packet.messageId, { durable, stream: raw.stream });
    // Backpressure: while the spool is paused (a full disk) or far behind its fdatasyncs, take no more messages.
    const wait = spool.writable();
    if (wait === undefined) callback();
    else void wait.then(() => callback());
  };
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', (err) => log.warn({ err: err.message }, 'gateway MQTT error'));
  await subscribeUntilGranted(client, `${opts.mqtt.topicPrefix}/+/beats`, log);

  // --- SFTP ---------------------------------------------------------------------------------------------
  let sftp: SftpClient | undefined;
  const sftpTimeoutMs = opts.sftp.timeoutMs ?? 20_000;
  /** Every SFTP operation gets a deadline: a stalled connection must not hold the uploader (or shutdown) forever. */
  const timed = async <T>(what: string, p: Promise<T>): Promise<T> => {
    let t: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          t = setTimeout(
            () =>
              reject(new HrvaultError('HRV_ERR_UPLOAD', `SFTP ${what} timed out after ${sftpTimeoutMs} ms`)),
            sftpTimeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(t);
    }
  };
  let connecting: Promise<SftpClient> | undefined;
  /** The one SFTP connection: callers at the same moment (upload, fetch) share one connect, so none is orphaned. */
  const connectSftp = (): Promise<SftpClient> => {
    if (sftp) return Promise.resolve(sftp);
    connecting ??= openSftp().finally(() => {
      connecting = undefined;
    });
    return connecting;
  };
  const openSftp = async (): Promise<SftpClient> => {
    // The library's default callbacks print to the console; route them to the log and forget the connection.
    const c = new SftpClient(`gateway-${opts.id}`, {
      error: (err: unknown) => {
        log.debug({ err: err instanceof Error ? err.message : String(err) }, 'SFTP connection error');
        if (sftp === c) sftp = undefined;
      },
      end: () => {
        if (sftp === c) sftp = undefined;
      },
      close: () => {
        if (sftp === c) sftp = undefined;
      },
    });
    await timed(
      'connect',
      c.connect({
        host: opts.sftp.host,
        port: opts.sftp.port,
        username: opts.id,
        privateKey: opts.sftp.privateKey,
        readyTimeout: Math.min(10_000, sftpTimeoutMs),
        keepaliveInterval: opts.sftp.keepaliveMs ?? 5_000,
        keepaliveCountMax: 3,
        // The raw host key; pinned by its OpenSSH fingerprint (SHA256:base64, as `ssh-keygen -l` prints it).
        hostVerifier: (key: Buffer) =>
          opts.sftp.hostFingerprint === undefined || sshFingerprint(key) === opts.sftp.hostFingerprint,
      } as Parameters<SftpClient['connect']>[0]),
    ).catch(async (err: unknown) => {
      await c.end().catch(() => undefined);
      throw err;
    });
    if (stopped) {
      // Shutdown dropped the connection while this one was being made: an open socket would keep the process alive.
      await c.end().catch(() => undefined);
      throw new HrvaultError('HRV_ERR_UPLOAD', 'gateway stopping');
    }
    sftp = c;
    return c;
  };
  const dropSftp = async (): Promise<void> => {
    const c = sftp;
    sftp = undefined;
    // A connection the network black-holed never answers the close, and its socket would keep the process alive
    // after a SIGTERM drain: destroy it (ssh2-sftp-client keeps its ssh2 Client as `client`).
    if (c) await timed('end', c.end()).catch(() => (c as unknown as { client?: { destroy?: () => void } }).client?.destroy?.());
  };

  // Attestation. `verified` is the enclave key new files are sealed to (a new key also begins a new epoch); it is renewed
  // when older than maxAgeMs (the enclave rotates its keys) or when a version-1 result is signed by a pair not attested
  // yet. Every pair attested is kept (attested-keys.ts): the enclave signs a version-1 result with the pair its input
  // was sealed to; a version-2 result is sealed under its input's epoch, whose secret the gateway keeps (epoch-keys.ts).
  let verified: VerifiedQuote | undefined;
  let verifiedAtMs = 0;
  let attestDue = false;
  const attested =
    opts.mode === 'secure'
      ? AttestedKeys.open(join(opts.dataDir, 'attested.json'), (q, nonce) => verifyQuoteDetails(q, { ...opts.attestation!, nonce }))
      : undefined;
  const maxAgeMs = opts.attestation?.maxAgeMs ?? 0;
  const attestationStale = (): boolean =>
    verified === undefined || attestDue || (maxAgeMs > 0 && Date.now() - verifiedAtMs >= maxAgeMs);
  let attesting: Promise<VerifiedQuote> | undefined;
  /** Attests again if the current attestation is missing or stale (one attestation at a time); returns the key to seal to. */
  const ensureAttested = (c: SftpClient): Promise<VerifiedQuote> => {
    if (!attestationStale()) return Promise.resolve(verified!);
    attesting ??= attest(c)
      .then((v) => {
        const before = verified === undefined ? undefined : keyIdOf(verified.enclavePublicKey);
        if (before !== undefined && before !== keyIdOf(v.enclavePublicKey))
          log.info({ from: before, to: keyIdOf(v.enclavePublicKey) }, 'enclave key changed: new files are sealed to the new key');
        verified = v;
        verifiedAtMs = Date.now();
        attestDue = false;
        return v;
      })
      .finally(() => {
        attesting = undefined;
      });
    return attesting;
  };
  const attest = async (c: SftpClient): Promise<VerifiedQuote> => {
    const nonce = randomBytes(32);
    const hex = nonce.toString('hex');
    await timed('put', c.put(Buffer.from(hex), `inbox/attest-${hex}.req`));
    const deadline = Date.now() + Math.max(10_000, 3 * opts.batchIntervalMs);
    while (Date.now() < deadline) {
      if ((await timed('exists', c.exists(`outbox/attest-${hex}.quote`))) === '-') {
        const body = (await timed('get', c.get(`outbox/attest-${hex}.quote`))) as Buffer;
        await timed('delete', c.delete(`outbox/attest-${hex}.quote`)).catch(() => undefined);
        try {
          const quote: unknown = JSON.parse(body.toString('utf8'));
          const v = verifyQuoteDetails(quote, { ...opts.attestation!, nonce });
          // Durable before anything is sealed to it: a restarted gateway still verifies the results of those files.
          attested!.add(quote, nonce, v, Date.now());
          st.attestations++;
          log.info(
            { measurement: v.measurement, backend: v.backend, key_id: keyIdOf(v.enclavePublicKey) },
            'enclave attested',
          );
          return v;
        } catch (err) {
          st.attestation_failures++;
          throw err;
        }
      }
      await sleep(50);
    }
    st.attestation_failures++;
    throw new HrvaultError('HRV_ERR_UPLOAD', 'no attestation quote arrived in the outbox');
  };

  // Version-2 epoch secrets, in `<dataDir>/epochs/` (each durable before the first file sealed under it).
  const epochs = opts.mode === 'secure' ? GatewayEpochs.open(join(opts.dataDir, 'epochs'), opts.id, opts.keys.signingPrivateKey, opts.epochPolicy) : undefined;
  const sealer = { gatewayId: opts.id, mode: opts.mode, signingPrivateKey: opts.keys.signingPrivateKey, bucketBytes: opts.bucketBytes, epochs, sealVersion: opts.sealVersion };
  const encodeBatch = (b: PendingBatch): { name: string; bytes: Uint8Array } =>
    encodeBatchFile(sealer, { pseudonym: pseudonymOf(b.patient), seq: b.seq, tStartMs: b.tStartMs, tEndMs: b.tEndMs, beats: b.beats }, verified?.enclavePublicKey);

  // posix-rename@openssh.com where the server offers it (OpenSSH); the cloud's ssh2 server cannot advertise
  // the extension, and its plain RENAME is an atomic rename(2). Either way a final name never shows a partial file.
  let posixRename = true;
  const publish = async (c: SftpClient, from: string, to: string): Promise<void> => {
    if (posixRename) {
      try {
        await timed('rename', c.posixRename(from, to));
        return;
      } catch (err) {
        if (!(err instanceof Error && /does not support/.test(err.message))) throw err;
        posixRename = false;
      }
    }
    await timed('rename', c.rename(from, to));
  };

  let stopped = false;
  let wake: () => void = () => undefined;
  const stoppedSignal = new Promise<void>((r) => (wake = r));
  /** A backoff pause that stop() cuts short. */
  const pause = async (ms: number): Promise<void> => {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => (t = setTimeout(r, ms))), stoppedSignal]);
    clearTimeout(t);
  };
  let uploading: Promise<void> | undefined;
  let backoffMs = 0;
  const uploadPending = async (): Promise<void> => {
    const batches = spool.pending();
    st.pending_files = batches.length;
    if (batches.length === 0) return;
    const c = await connectSftp();
    if (opts.mode === 'secure') await ensureAttested(c);
    for (const b of batches) {
      const { name, bytes } = encodeBatch(b);
      const tmp = `inbox/${name}.part`;
      await timed('put', c.put(Buffer.from(bytes), tmp));
      await publish(c, tmp, `inbox/${name}`);
      failpoint('gateway.upload.after-rename');
      spool.confirmUploaded(b.patient, b.seq);
      st.files_uploaded++;
      st.bytes_uploaded += bytes.length;
      st.pending_files--;
    }
  };
  const kickUpload = (): Promise<void> => {
    uploading ??= (async () => {
      try {
        await uploadPending();
        backoffMs = 0;
      } catch (err) {
        st.upload_failures++;
        backoffMs = Math.min(opts.retryMaxMs, backoffMs === 0 ? 200 : backoffMs * 2);
        log.warn(
          { err: err instanceof Error ? err.message : String(err), retry_ms: backoffMs },
          'upload failed; will retry',
        );
        await dropSftp();
        if (err instanceof HrvaultError && err.code.startsWith('HRV_ERR_ATTESTATION')) verified = undefined;
        await pause(backoffMs);
        if (!stopped) setImmediate(() => void kickUpload());
      } finally {
        uploading = undefined;
      }
    })();
    return uploading;
  };

  // --- results ------------------------------------------------------------------------------------------
  /** Result names whose signer was unknown once (fetched again after a new attestation, then judged). */
  const unknownSigner = new Set<string>();
  /** Per result bundle on the host, the entries already kept or refused (a bundle fetched again is not judged twice). */
  const bundleSettled = new Map<string, Set<string>>();
  /** Bundles whose framing was bad: their good results were kept; they stay on the host for an operator. */
  const badBundles = new Set<string>();
  const deleteHostCopy = (c: SftpClient, name: string): Promise<void> =>
    timed('delete', c.delete(`outbox/${name}`)).then(
      () => undefined,
      (err: unknown) => log.warn({ file: name, err: String(err) }, 'could not delete fetched result'),
    );
  /**
   * The results on the host, one at a time: loose `<pseudonym>-<seq>.result` files, then the entries of each result
   * bundle (`results-<ms>-<hex>.bundle`, one per micro-batch, oldest first). The caller judges each and calls
   * `settle` once it is kept or refused; a loose file is deleted then, a bundle only after every entry in it was
   * settled (one left for a later round — an unknown signer, a full disk — keeps the whole bundle on the host).
   */
  async function* hostResults(c: SftpClient, listed: string[]): AsyncGenerator<{ name: string; bytes: Buffer; settle: () => Promise<void> }> {
    // By number, not by name ("-10" sorts before "-9"): results reach the CSP in each patient's order when they
    // can. Correctness does not depend on it (the host picks the order; the outbox takes any order, once).
    for (const name of listed.filter((n) => RESULT_NAME.test(n)).sort(byPatientThenSeq)) {
      const bytes = (await timed('get', c.get(`outbox/${name}`))) as Buffer;
      yield { name, bytes, settle: () => deleteHostCopy(c, name) };
    }
    for (const bundle of listed.filter((n) => RESULT_BUNDLE_NAME.test(n) && !badBundles.has(n)).sort()) {
      const split = splitResultBundle((await timed('get', c.get(`outbox/${bundle}`))) as Buffer);
      const settled = bundleSettled.get(bundle) ?? new Set<string>();
      bundleSettled.set(bundle, settled);
      let open = 0;
      for (const e of split.entries.sort((a, b) => byPatientThenSeq(a.name, b.name))) {
        if (settled.has(e.name)) continue;
        let done = false;
        yield {
          name: `${bundle}:${e.name}`,
          bytes: Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.length),
          settle: () => {
            done = true;
            settled.add(e.name);
            return Promise.resolve();
          },
        };
        if (!done) open++;
      }
      if (split.fault !== undefined) {
        // Written by the untrusted host (atomically, so not torn by a crash): its entries before the fault were
        // judged like any result; what the fault hides cannot be read. Left on the host, not fetched again by this
        // process once every readable entry is settled; after a restart its good entries are refused as replays.
        if (open === 0) badBundles.add(bundle);
        st.results_rejected++;
        log.error({ file: bundle, code: 'HRV_ERR_RESULT', err: split.fault, entries_read: split.entries.length }, 'malformed result bundle: its readable results judged, the bundle left on the host');
      } else if (open === 0) {
        await deleteHostCopy(c, bundle);
        bundleSettled.delete(bundle);
      }
    }
  }
  const fetchResults = async (): Promise<void> => {
    if (opts.mode === 'secure' && verified === undefined && attested!.size === 0) return;
    const c = await connectSftp();
    if (opts.mode === 'secure' && attestDue) await ensureAttested(c);
    const listed = (await timed('list', c.list('outbox'))).map((f) => f.name);
    for await (const { name, bytes, settle } of hostResults(c, listed)) {
      try {
        const { header, text } = openResultFile({ gatewayId: opts.id, mode: opts.mode, hpkePrivateKey: opts.keys.hpkePrivateKey, epochs }, bytes, opts.mode === 'secure' ? attested!.signers() : []);
        const patient = realOf.get(header.patient);
        if (patient === undefined)
          throw new HrvaultError('HRV_ERR_RESULT', `result for unknown pseudonym ${header.patient}`);
        const body = parseResultBody(text, header);
        if (opts.mode === 'secure') {
          // Rollback check of the enclave's sealed state (enclave-commits.ts). The commit is made durable before the
          // result is kept, so a redelivery after a restart still finds the commit its original came from.
          const c = body.state_commit;
          if (c === undefined) throw new HrvaultError('HRV_ERR_RESULT', 'result names no enclave state commit');
          if (outbox.has(patient, body.seq)) commits.judgeReplay(c);
          else {
            commits.judge(c);
            commits.record(c);
          }
        }
        const kept = outbox.accept(patient, body);
        failpoint('gateway.result.after-keep');
        if (kept === 'duplicate') {
          st.results_replayed++;
          log.warn(
            { file: name, patient_pseudonym: header.patient, seq: header.seq },
            'result replayed (already kept); not passed on',
          );
        } else {
          st.results_verified++;
          st.alerts += body.alerts.length;
          st.beats_in_results += body.rr.t_ms.length;
          await opts.onResult?.({
            patient,
            seq: header.seq,
            tStartMs: header.t_start_ms,
            tEndMs: header.t_end_ms,
            body,
          });
          if (forwarder) forwarder.kick();
          else outbox.delivered(outbox.pending());
        }
      } catch (err) {
        if (err instanceof EnvelopeError && err.code === 'HRV_ERR_ENVELOPE_SIGNATURE' && !unknownSigner.has(name)) {
          // Perhaps signed by an enclave pair this gateway has not attested (it rotated since): attest again and
          // fetch it once more before calling it forged. The host's copy stays.
          unknownSigner.add(name);
          attestDue = true;
          log.warn({ file: name }, 'result signed by an enclave key not attested yet: attesting again before it is fetched again');
          continue;
        }
        // The outbox could not write (a full disk): the result is fine, our disk is not. Leave the host's copy and
        // end this round; the next poll fetches it again. Deleting it here would lose its beats for good.
        if (err instanceof HrvaultError && err.code === 'HRV_ERR_SPOOL') throw err;
        st.results_rejected++;
        if (err instanceof EnclaveRollbackError) {
          // Never kept, never forwarded: neither a second record nor a second alert. An operator must look at the host.
          st.results_rollback++;
          log.error({ file: name, code: err.code, err: err.message, rollbacks: st.results_rollback }, 'enclave state rollback detected: result refused');
        } else {
          log.warn(
            {
              file: name,
              code: err instanceof HrvaultError ? err.code : undefined,
              err: err instanceof Error ? err.message : String(err),
            },
            'result rejected',
          );
        }
      }
      unknownSigner.delete(name);
      await settle();
    }
  };
  let fetching: Promise<void> | undefined;
  const kickFetch = (): Promise<void> =>
    (fetching ??= fetchResults()
      .catch(async (err: unknown) => {
        log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'result fetch failed; will retry',
        );
        // Our own disk failed, not the link: keep the connection for the next poll.
        if (!(err instanceof HrvaultError && err.code === 'HRV_ERR_SPOOL')) await dropSftp();
      })
      .finally(() => {
        fetching = undefined;
      }));

  // --- timers -------------------------------------------------------------------------------------------
  let cutting: Promise<void> | undefined;
  const cutNow = (o: { releaseHeld?: boolean } = {}): Promise<void> =>
    (cutting ??= spool
      .cut(o)
      .then((batches) => {
        st.files_cut += batches.length;
        // Not awaited: the next cut must never wait for an upload (a slow or stalled SFTP link).
        void kickUpload();
      })
      .catch((err: unknown) =>
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'batch cut failed'),
      )
      .finally(() => {
        cutting = undefined;
      }));
  const cutTimer = setInterval(() => void cutNow(), opts.batchIntervalMs);
  const pollTimer = setInterval(
    () => void kickFetch(),
    opts.resultPollMs ?? Math.max(100, opts.batchIntervalMs / 5),
  );
  // Anything left pending from before a restart goes out at once.
  void kickUpload();

  const waiters: { n: number; resolve: (ok: boolean) => void }[] = [];
  let stopping: Promise<void> | undefined;
  return {
    stats: () => {
      const f = forwarder?.stats();
      const c = spool.counts();
      return {
        ...st,
        buffered_beats: spool.bufferedBeats(),
        spool_syncs: spool.syncs,
        quarantined: c.quarantined,
        seq_gaps: c.seq_gaps,
        late_filled: c.late_filled,
        epoch_restarts: c.epoch_restarts,
        spool_write_failures: c.write_failures,
        intake_paused: c.paused,
        pending_files: spool.pendingCount(),
        results_delivered: f ? f.delivered + f.duplicates : 0,
        results_undeliverable: f?.rejected ?? 0,
        results_waiting: outbox.size,
      };
    },
    async deliverResults(timeoutMs) {
      return forwarder ? forwarder.drain(timeoutMs) : true;
    },
    async flush(timeoutMs = 30_000, o = {}) {
      const deadline = Date.now() + timeoutMs;
      // A cut already running took its snapshot before the caller's last beats: cut once more after it.
      await cutting;
      await cutNow(o);
      // An upload stuck on a stalled link must not hold the caller past its deadline (it stays pending on disk).
      while (spool.pendingCount() > 0 && Date.now() < deadline) {
        await untilDeadline(kickUpload(), deadline);
        if (spool.pendingCount() > 0 && Date.now() < deadline) await sleep(50);
      }
    },
    async waitForResults(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (st.results_verified + st.results_rejected < n && Date.now() < deadline) {
        await kickFetch();
        await sleep(50);
      }
      void waiters;
      return st.results_verified + st.results_rejected >= n;
    },
    stop(timeoutMs = 10_000) {
      return (stopping ??= shutdown(timeoutMs));
    },
  };
  async function shutdown(timeoutMs: number): Promise<void> {
    stopped = true;
    wake();
    clearInterval(cutTimer);
    clearInterval(pollTimer);
    const deadline = Date.now() + timeoutMs;
    const within = (p: Promise<unknown> | undefined): Promise<void> => untilDeadline(p, deadline);
    await within(forwarder?.stop());
    await within(Promise.allSettled([cutting, uploading, fetching]));
    // The last group's fdatasync, so its PUBACKs go out before we disconnect.
    await within(spool.barrier());
    await within(new Promise<void>((r) => setImmediate(r)));
    await within(client.endAsync());
    if (!client.disconnected) client.end(true);
    await within(dropSftp());
    spool.close();
  }
}
