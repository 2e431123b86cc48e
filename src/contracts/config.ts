/**
 * The configuration sections every command reads through the one loader (src/config.ts): defaults → JSON file →
 * `HRVAULT_<SECTION>_<KEY>` environment variables → flags, validated once at start-up.
 */
import { z } from 'zod';

const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ or -, at most 64 characters');

const mqttSchema = z
  .object({
    /** Broker URL, e.g. mqtt://127.0.0.1:1883; empty = the demo's in-process broker. */
    url: z.string(),
    topicPrefix: z.string().regex(/^[A-Za-z0-9_/-]+$/),
    /** Bound on unacknowledged QoS 1 publishes per client (mqtt.js has 65,535 packet ids). */
    maxInflight: z.number().int().min(1).max(60000),
    /** PEM file of the CA the broker's TLS certificate must chain to (mqtts:// URLs); empty = the system's CAs. */
    caFile: z.string(),
  })
  .strict();

const sensorSchema = z
  .object({
    patients: z.number().int().min(1).max(100000),
    /** Simulated seconds per real second. */
    speed: z.number().positive().max(10000),
    /** Simulated seconds to run; null = until stopped. */
    durationS: z.number().positive().nullable(),
    seed: z.number().int(),
    /** First patient number (patients are P0001, P0002, …). */
    firstPatient: z.number().int().min(1),
    /** One device's own password (used when the sensor runs a single patient). */
    password: z.string(),
    /** Demo convenience: every device's password derived from this secret (see devicePassword). */
    deviceSecret: z.string(),
  })
  .strict();

const gatewaySchema = z
  .object({
    id,
    dataDir: z.string(),
    batchIntervalMs: z.number().int().min(100).max(3_600_000),
    /** Plaintext batch sizes are padded up to the next of these (bytes), so upload size hides the heart rate. */
    bucketBytes: z.array(z.number().int().positive()).min(1),
    sftpHost: z.string(),
    sftpPort: z.number().int().min(0).max(65535),
    sftpPrivateKeyFile: z.string(),
    /** Cloud SSH host key fingerprint to pin (OpenSSH form SHA256:…); empty = accept any (demo only). */
    sftpHostFingerprint: z.string(),
    platformPublicKeyFile: z.string(),
    allowedMeasurements: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
    /** Accept software-backend quotes (signed by a key file on the cloud host): development only; refused in production without the override below. */
    allowSoftwareQuotes: z.boolean(),
    /** Production override for allowSoftwareQuotes: the host can then impersonate the enclave. Never set by a flag. */
    dangerouslyAcceptForgeableSoftwareQuotesInProduction: z.boolean(),
    mqttUsername: z.string(),
    mqttPassword: z.string(),
    /** The broker session's client id (persistent session: keep it fixed across restarts); empty = hrvault-gateway-<id>. */
    mqttClientId: z.string().max(128),
    retryMaxMs: z.number().int().min(10),
    /** A beat stamped further ahead of the gateway's clock than this is quarantined alone, ms. */
    maxClockAheadMs: z.number().int().min(1000),
    /** How long a sequence gap holds later beats back from the batch cut, waiting for the late beat (ms). */
    reorderHoldMs: z.number().int().min(0).max(3_600_000),
    /** A beat numbered more than this ahead of its device's highest accepted number is quarantined alone (beats). */
    maxSeqJump: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    /** The CSP's base URL that verified results are delivered to (device credential); empty = not set. */
    cspUrl: z.union([z.literal(''), z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })]),
    /** Re-attest the enclave when the last attestation is older than this (s; 0 = only once per connection), so new files are sealed to a rotated key. */
    attestationMaxAgeS: z.number().int().min(0).max(30 * 86_400),
  })
  .strict();

const pipelineSchema = z
  .object({
    mode: z.enum(['secure', 'plain']),
    /** `production` refuses development-only settings (software attestation quotes) at start-up; so does NODE_ENV=production. */
    deployment: z.enum(['development', 'production']),
  })
  .strict();

const cloudSchema = z
  .object({
    /** The host's directory (inboxes, outboxes, encrypted store, quarantine, host key). */
    dataDir: z.string(),
    host: z.string(),
    sftpPort: z.number().int().min(0).max(65535),
    /** SSH host key (OpenSSH private key); empty = <dataDir>/host_key, generated on first start. */
    hostKeyFile: z.string(),
    batchIntervalMs: z.number().int().min(100).max(3_600_000),
    maxUploadBytes: z.number().int().min(1024).max(16 * 1024 * 1024),
    /** The gateways allowed to log in and enrolled at the enclave: each file is what `hrvault gateway --print-keys` printed. */
    gatewayKeysFiles: z.array(z.string().min(1)),
    /** Watchdog deadline of every call to the enclave (ms): past it the enclave counts as hung, is killed and restarted. */
    enclaveCallTimeoutMs: z.number().int().min(100).max(3_600_000),
    /** The enclave rotates its HPKE and signing keys this often (s; 0 = never). */
    enclaveKeyRotationS: z.number().int().min(0).max(365 * 86_400),
    /**
     * A retired enclave key still opens files this long after it was replaced (s); then its private half is erased and
     * files sealed to it are refused. Must exceed the gateways' attestation max age plus the longest upload backlog.
     */
    enclaveKeyRetentionS: z.number().int().min(1).max(365 * 86_400),
    /** Open SFTP handles per session; an OPEN beyond it is refused with FAILURE (the session lives on). */
    sftpMaxHandlesPerSession: z.number().int().min(4).max(65_536),
    /** Concurrent SFTP sessions of one gateway (over all its connections); a login while it holds this many is refused. */
    sftpMaxSessionsPerGateway: z.number().int().min(1).max(1024),
    /** Concurrent TCP connections from one remote address, authenticated or not; more are closed at accept. */
    sftpMaxConnectionsPerAddress: z.number().int().min(1).max(65_536),
    /** Concurrent TCP connections in total; more are closed at accept. */
    sftpMaxConnections: z.number().int().min(1).max(65_536),
    /** A connection not authenticated this long after accept is closed (ms). */
    sftpAuthTimeoutMs: z.number().int().min(100).max(600_000),
    /** An authenticated connection that sends no SFTP request for this long is ended (ms); above the gateways' batch interval. */
    sftpIdleTimeoutMs: z.number().int().min(1000).max(86_400_000),
    /** Abandoned temp uploads (`.part`, `.tmp`) older than this are deleted, unless open for writing (s). */
    tempRetentionS: z.number().int().min(60).max(365 * 86_400),
    /** Quarantine entries (refused file and its reason) older than this are deleted (s). */
    quarantineRetentionS: z.number().int().min(3600).max(10 * 365 * 86_400),
    /** How often the retention sweep runs (s); it also runs once at start. */
    retentionSweepIntervalS: z.number().int().min(10).max(86_400),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.sftpMaxConnectionsPerAddress > c.sftpMaxConnections)
      ctx.addIssue({ code: 'custom', path: ['sftpMaxConnectionsPerAddress'], message: `must not exceed cloud.sftpMaxConnections (${c.sftpMaxConnections})` });
    if (c.sftpIdleTimeoutMs <= c.batchIntervalMs)
      ctx.addIssue({ code: 'custom', path: ['sftpIdleTimeoutMs'], message: `must exceed cloud.batchIntervalMs (${c.batchIntervalMs} ms)` });
  });

const enclaveSchema = z
  .object({
    /** Sealed keys and state. */
    dataDir: z.string(),
    /** Software backend's platform attestation key (32-byte Ed25519 seed); created if missing. */
    platformKeyFile: z.string(),
    /** JSON file from the operator: [{"id", "signingPublicKey": hex, "hpkePublicKey": hex}]. */
    enrolmentFile: z.string(),
  })
  .strict();

const port = z.number().int().min(0).max(65535);
const paillierBits = z.number().int().min(1024).max(4096);
/** Connections in a PostgreSQL pool: at least one, and no more than a server allows by default (max_connections 100). */
const dbPoolMax = z.number().int().min(1).max(100);
/** The two-person rule on grants of access: 2 by default; 1 turns it off (a single-admin deployment). */
const grantApprovals = z.number().int().min(1).max(16);

/** `hrvault serve` (CSP + SP + API together) and `hrvault audit verify`. */
const accessSchema = z
  .object({
    /** Keys and the embedded databases. */
    dataDir: z.string().min(1),
    host: z.string().min(1),
    port,
    /** Paillier modulus size of fresh CSP keys, bits. */
    paillierBits,
    /** SP storage: postgres://… ; empty = the embedded database in dataDir. */
    spDb: z.string(),
    /** Most connections the SP opens to its PostgreSQL (spDb); each is a server process there. */
    spDbPoolMax: dbPoolMax,
    /** Registers the first admin on a store without users; empty = none. */
    adminPassword: z.string(),
    /**
     * Behind a reverse proxy: true (one proxy in front), a hop count ("2"), or the proxies' addresses/CIDRs
     * (comma-separated); the client address is then taken from X-Forwarded-For. false: the socket's address.
     */
    trustProxy: z.union([z.boolean(), z.string().min(1)]),
    /** Registers a second admin ("admin2") at start, so grants can be approved by a second person; empty = none. */
    secondAdminPassword: z.string(),
    /** People a grant of access needs, the requester included; 1 (one admin alone) only when set explicitly. */
    grantApprovals,
  })
  .strict();

/** `hrvault csp` against a separate SP. */
const cspSchema = z
  .object({
    dataDir: z.string().min(1),
    host: z.string().min(1),
    port,
    paillierBits,
    /** The SP's wire endpoint, e.g. http://127.0.0.1:8081/sp/v1/wire; empty = not set. */
    spUrl: z.union([z.literal(''), z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })]),
    /** The SP identity public key to pin (base64url). */
    spPublicKey: z.string(),
    adminPassword: z.string(),
    /** As access.trustProxy. */
    trustProxy: z.union([z.boolean(), z.string().min(1)]),
    secondAdminPassword: z.string(),
    grantApprovals,
  })
  .strict();

/** `hrvault sp`, the untrusted storage provider. */
const spSchema = z
  .object({
    dataDir: z.string().min(1),
    host: z.string().min(1),
    port,
    /** postgres://… ; empty = the embedded database in dataDir. */
    db: z.string(),
    /** As access.spDbPoolMax, for db. */
    dbPoolMax,
    /** The CSP identity public key to pin (base64url). */
    cspPublicKey: z.string(),
  })
  .strict();

/**
 * JetStream mode (issue 11): the host publishes arrived files to a partitioned work stream and enclave workers
 * (`hrvault worker`) on any hosts consume it. `url` empty = the embedded in-process scheduler (the default).
 */
const jetstreamSchema = z
  .object({
    /** NATS server URLs, comma-separated (every node of a cluster, so the client fails over); empty = off. */
    url: z.string(),
    /** Subject prefix and name stem of the streams, buckets and consumers of one deployment. */
    prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'one subject token of 1–32 letters, digits, _ or -'),
    /** Partitions of the patients (fixed for a deployment's life: a patient must not move). */
    partitions: z.number().int().min(1).max(1024),
    /** Replicas of every stream and bucket: 3 on a cluster (survives one node), 1 on a single server. */
    replicas: z.number().int().min(1).max(5),
    /** How long JetStream remembers a message id, so a re-published file or result is dropped (ms). */
    duplicateWindowMs: z.number().int().min(1000).max(86_400_000),
    /** Queued work older than this is removed even if unprocessed (ms; 0 = never): an outage of every worker may last this long. */
    maxAgeMs: z.number().int().min(0),
    /** Size of the work stream at which publishes are refused: back-pressure to the host (bytes). */
    maxBytes: z.number().int().min(1024 * 1024),
    /** Work messages one partition may have delivered and unacknowledged: back-pressure to a worker. */
    maxAckPending: z.number().int().min(1).max(100_000),
    /** A delivered work message not acknowledged within this is delivered again (ms): a dead worker's batch waits this long. */
    ackWaitMs: z.number().int().min(1000).max(3_600_000),
    /** Partition lease length (ms): how long a dead worker's partitions wait before another worker takes them. */
    leaseTtlMs: z.number().int().min(500).max(600_000),
    /** CA certificate (PEM) that signs the NATS servers' certificates; set = TLS required. */
    tlsCaFile: z.string(),
    /** Client certificate and key (PEM) when the servers verify clients (mutual TLS). */
    tlsCertFile: z.string(),
    tlsKeyFile: z.string(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.maxAgeMs > 0 && c.duplicateWindowMs > c.maxAgeMs)
      ctx.addIssue({ code: 'custom', path: ['duplicateWindowMs'], message: `must not exceed jetstream.maxAgeMs (${c.maxAgeMs} ms)` });
    if ((c.tlsCertFile === '') !== (c.tlsKeyFile === ''))
      ctx.addIssue({ code: 'custom', path: ['tlsCertFile'], message: 'tlsCertFile and tlsKeyFile go together' });
  });

/** `hrvault worker`: one enclave worker of JetStream mode. */
const workerSchema = z
  .object({
    /** Enclave data directory of this worker (its sealed copy of the cluster secrets, its platform key). */
    dataDir: z.string().min(1),
    /** Most files in one partition's micro-batch. */
    maxBatch: z.number().int().min(1).max(100_000),
    /** How long one pull waits for work (ms; the NATS client's least is 1 s): the micro-batch interval under light load. */
    fetchMs: z.number().int().min(1000).max(600_000),
    /** Bounded reorder: how long a file waits for a missing predecessor (ms). */
    reorderHoldMs: z.number().int().min(0).max(3_600_000),
  })
  .strict();

/** Components' logs (pino, on stderr or the demo's log file). */
const logSchema = z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }).strict();

export const configSchema = z
  .object({
    mqtt: mqttSchema,
    sensor: sensorSchema,
    gateway: gatewaySchema,
    pipeline: pipelineSchema,
    cloud: cloudSchema,
    enclave: enclaveSchema,
    access: accessSchema,
    csp: cspSchema,
    sp: spSchema,
    jetstream: jetstreamSchema,
    worker: workerSchema,
    log: logSchema,
  })
  .strict();

export type HrvaultConfig = z.infer<typeof configSchema>;
