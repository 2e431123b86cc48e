/**
 * What crosses between the harness and its two child processes (the server and the load generator), declared
 * once. Keys travel as hex (and SSH keys as OpenSSH text) so that the same generator config can be written to a
 * file by `hrvault bench serve` on another host and read back by `hrvault bench clients --target`.
 */
import { z } from 'zod';

const hex = z.string().regex(/^(?:[0-9a-f]{2})+$/, 'must be hex');
const mode = z.enum(['secure', 'plain']);

/** One benchmark gateway identity as the server enrols it (public halves only). */
export const serverGatewaySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  sshPublicKey: z.string().min(1),
  signingPublicKey: hex,
  hpkePublicKey: hex,
});

/** The server child's start message. */
export const serverConfigSchema = z.strictObject({
  mode,
  host: z.string().min(1),
  /** 0 = any free port. */
  port: z.number().int().min(0).max(65535),
  batchIntervalMs: z.number().int().positive(),
  dataDir: z.string().min(1),
  gateways: z.array(serverGatewaySchema).min(1),
  /** Extra Node flags of the enclave process (`--cpu-prof …` when the point is profiled). */
  enclaveNodeArgs: z.array(z.string()).optional(),
  /**
   * JetStream mode: the host publishes to this deployment (NATS URL, stream prefix, partitions) and has no enclave;
   * the harness runs the workers. The platform key file is shared with them (software attestation).
   */
  jetstream: z.strictObject({ url: z.string().min(1), prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), partitions: z.number().int().min(1).max(1024) }).optional(),
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;

/** What the server tells the harness (and `bench serve` prints) once it listens. */
export const serverReadySchema = z.strictObject({
  type: z.literal('ready'),
  mode,
  port: z.number().int(),
  hostFingerprint: z.string(),
  /** Secure mode: what a gateway pins to attest the enclave (the software backend's platform key, the measurement). */
  attestation: z.strictObject({ platformPublicKey: hex, measurement: z.string() }).nullable(),
  batchIntervalMs: z.number().int().positive(),
});
export type ServerReady = z.infer<typeof serverReadySchema>;

/** CPU time (ms, user + system) and resident memory (MB: now and peak) of one process, from /proc. */
export const procUsageSchema = z.strictObject({ cpu_ms: z.number(), rss_mb: z.number(), rss_max_mb: z.number() });
export type ProcUsage = z.infer<typeof procUsageSchema>;

/** One micro-batch as the server saw it: the host's record plus the files left waiting when it ended. */
/** Where a micro-batch's host time went (ms): the host's own BatchRecord.phases_ms (src/cloud), less `background`. */
export const batchPhasesSchema = z.strictObject({ list: z.number(), read: z.number(), analyse: z.number(), write: z.number(), file: z.number() });
export type BatchPhasesMs = z.infer<typeof batchPhasesSchema>;
/** The phases' names, in the host's order. */
export const BATCH_PHASES = batchPhasesSchema.keyof().options;

export const batchSampleSchema = z.strictObject({
  batch: z.number().int(),
  started_ms: z.number(),
  files: z.number().int(),
  accepted: z.number().int(),
  rejected: z.number().int(),
  failed: z.number().int(),
  ms: z.number(),
  backlog_start: z.number().int(),
  /** Files waiting when it ended: in the inboxes, plus (JetStream mode) the work stream's messages not yet acknowledged by a worker. */
  backlog_end: z.number().int(),
  phases_ms: batchPhasesSchema,
});
export type BatchSample = z.infer<typeof batchSampleSchema>;

export const serverFinalSchema = z.strictObject({
  type: z.literal('final'),
  batches: z.array(batchSampleSchema),
  skipped_ticks: z.number().int(),
  rejected_files: z.number().int(),
  host: procUsageSchema,
  enclave: procUsageSchema.nullable(),
  wall_ms: z.number(),
});
export type ServerFinal = z.infer<typeof serverFinalSchema>;

/** A JetStream worker child's start message: which deployment to join, its own enclave directory, the shared platform key. */
export const workerConfigSchema = z.strictObject({
  url: z.string().min(1),
  prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  partitions: z.number().int().min(1).max(1024),
  /** Index of the worker in the point (its id, its log lines). */
  index: z.number().int().nonnegative(),
  dataDir: z.string().min(1),
  platformKeyFile: z.string().min(1),
  /** How long one pull waits for work (ms): at most the batch interval, so a quick point is not all waiting. */
  fetchMs: z.number().int().min(10),
  gateways: z.array(serverGatewaySchema).min(1),
});
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

/** A worker child once its enclave holds the cluster secrets and it runs. */
export const workerReadySchema = z.strictObject({ type: z.literal('ready'), pid: z.number().int(), enclave_pid: z.number().int() });

/** A worker child's report after `stop`: its runners' totals and the CPU of the worker and of its enclave child. */
export const workerFinalSchema = z.strictObject({
  type: z.literal('final'),
  batches: z.number().int(),
  files: z.number().int(),
  results: z.number().int(),
  refusals: z.number().int(),
  runners_started: z.number().int(),
  leases_lost: z.number().int(),
  self: procUsageSchema,
  enclave: procUsageSchema.nullable(),
});
export type WorkerFinal = z.infer<typeof workerFinalSchema>;

/** One benchmark gateway identity as the load generator uses it (private halves: benchmark keys only). */
export const generatorGatewaySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  sshPrivateKey: z.string().min(1),
  signingPrivateKey: hex,
  hpkePrivateKey: hex,
  pseudonymKey: hex,
});

/** The load generator's start message. */
export const generatorConfigSchema = z.strictObject({
  mode,
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  hostFingerprint: z.string().min(1),
  attestation: z.strictObject({ platformPublicKey: hex, measurement: z.string() }).nullable(),
  clients: z.number().int().positive(),
  /** Beats per second of each client. */
  rate: z.number().positive(),
  batchIntervalMs: z.number().int().positive(),
  durationMs: z.number().int().positive(),
  /** How long to wait for the last results after the last upload. */
  drainMs: z.number().int().nonnegative(),
  clientsPerGateway: z.number().int().positive(),
  bucketBytes: z.array(z.number().int().positive()),
  gateways: z.array(generatorGatewaySchema).min(1),
});
export type GeneratorConfig = z.infer<typeof generatorConfigSchema>;

/** A progress line's figures, once per batch interval. */
export const generatorProgressSchema = z.strictObject({
  type: z.literal('progress'),
  elapsed_s: z.number(),
  files_sent: z.number().int(),
  results_verified: z.number().int(),
  upload_lag_ms: z.number(),
});

export const generatorFinalSchema = z.strictObject({
  type: z.literal('final'),
  files_sent: z.number().int(),
  /** Bytes of the sealed (or plain-mode) files uploaded. */
  bytes_sent: z.number().int(),
  /** Bytes of the RR CSV inside them, before padding and sealing: the clients' data. */
  data_bytes: z.number().int(),
  beats_sent: z.number().int(),
  results_verified: z.number().int(),
  results_rejected: z.number().int(),
  /** Beats in verified results (the gateway's own count, from the results it opened). */
  beats_in_results: z.number().int(),
  /** Latency (ms) from each batch's newest beat (the cut) to its result verified at the gateway. */
  e2e_ms: z.array(z.number()),
  /** Largest delay (ms) of an interval's uploads behind their cut: the generator keeping up or not. */
  upload_lag_ms_max: z.number(),
  /** From the first cut to the end of the last interval's uploads (ms): the duration, or longer when uploads fell behind. */
  load_ms: z.number(),
  first_error: z.string().nullable(),
  self: procUsageSchema,
  wall_ms: z.number(),
});
export type GeneratorFinal = z.infer<typeof generatorFinalSchema>;

/** What `hrvault bench serve` writes for `hrvault bench clients --target HOST:PORT --target-keys FILE` on another host. */
export const targetFileSchema = z.strictObject({
  ready: serverReadySchema,
  gateways: z.array(generatorGatewaySchema).min(1),
});
export type TargetFile = z.infer<typeof targetFileSchema>;
