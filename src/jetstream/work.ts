/**
 * The work stream: one message per file that arrived at a host, for the enclave workers to consume.
 *
 * **Partitions.** A file goes to subject `<prefix>.work.<p>` where `p = partitionOf(pseudonym, partitions)`,
 * so every file of one patient lands on one partition and is processed by that partition's one owner (see
 * `lease.ts`), in arrival order. Changing the partition count moves patients between partitions: drain the
 * stream first.
 *
 * **Retention.** The stream has work-queue retention: a message is removed once its partition's consumer
 * acknowledges it, which a worker does only after its results are durable. Until then it stays, and a
 * message delivered but not acknowledged within `ack_wait` is delivered again (to whoever then owns the
 * partition's consumer). Nothing is dropped to make room: the stream discards *new* messages when full
 * (`max_bytes`), so a full stream is a publish error at the host (back-pressure), not work silently lost.
 * The age limit (`max_age`) is the one way queued work leaves unprocessed: it bounds how long an outage of
 * every worker may last before files are given up on, so it is days, not minutes (0 = no limit).
 *
 * **Duplicates.** The message id is the file id. Within `duplicate_window` JetStream keeps the ids it has
 * stored and answers a re-publish with `duplicate: true` instead of storing it again: a host that crashed
 * between publishing a file and recording that it did so publishes it again after its restart, and as long
 * as that happens within the window, workers see the file once. The window also covers a file already
 * processed and acknowledged (the ids are kept apart from the messages). Past the window a re-publish is a
 * new message; the worker's own dedupe table ((gateway, patient, seq) → result hash) catches it there.
 *
 * **Back-pressure to workers.** Each partition's durable pull consumer has `max_ack_pending`: with that many
 * messages delivered and not yet acknowledged, the server delivers no more on that partition.
 */
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { z } from 'zod';
import { MAX_PARTITIONS, parseContract, partitionsSchema } from '../contracts/index.js';
import { partitionOf } from '../crypto/index.js';
import { H_FILE, H_GATEWAY, workHeadersSchema, type WorkHeaders } from './messages.js';
import {
  NS_PER_MS,
  workQueueStreamConfig,
  ensureDurableConsumer,
  ensureStream,
  parseStreamOptions,
  publishOnce,
  type Published,
} from './streams.js';

// partitionOf is in src/crypto (the enclave checks partitions too, without the NATS client); re-exported for this module's users.
export { MAX_PARTITIONS, partitionOf };

/** The work stream's settings, as a caller gives them (times in ms, sizes in bytes). */
export const workOptionsSchema = z.strictObject({
  /** Subject prefix; one subject token (no dots), since the durable names are built from it too. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'one subject token of 1–32 letters, digits, _ or -')
    .default('hrvault'),
  /** Stream name (default `<prefix>_work`). */
  stream: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, '1–64 letters, digits, _ or -')
    .optional(),
  partitions: partitionsSchema,
  /** 1 on a single server, 3 on a cluster (survives the loss of one node). */
  replicas: z.number().int().min(1).max(5),
  /** How long JetStream remembers a message id (default 2 min); at least 1 s. */
  duplicateWindowMs: z.number().int().min(1000).default(120_000),
  /** Age after which a message is removed even if unprocessed (default 7 days); 0 = no age limit. */
  maxAgeMs: z
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600 * 1000),
  /** Size of the stream at which publishes are refused (default 1 GiB). */
  maxBytes: z
    .number()
    .int()
    .min(1)
    .default(2 ** 30),
  /** Messages one partition's consumer may have delivered and unacknowledged (default 64). */
  maxAckPending: z.number().int().min(1).max(100_000).default(64),
  /** Time a worker has to acknowledge a message before it is delivered again (default 60 s). */
  ackWaitMs: z.number().int().min(100).default(60_000),
  /** Timeout of one publish's acknowledgement from the server (default 5 s). */
  timeoutMs: z.number().int().min(1).default(5000),
});
export type WorkOptionsInput = z.input<typeof workOptionsSchema>;
export type WorkOptions = Omit<z.output<typeof workOptionsSchema>, 'stream'> & { stream: string };

/** Validates and completes work-stream options; a ConfigError names the first bad option. */
export function parseWorkOptions(input: unknown): WorkOptions {
  const o = parseStreamOptions(workOptionsSchema, input, 'work stream');
  return { ...o, stream: o.stream ?? `${o.prefix}_work` };
}

/** The subject of partition `partition`'s work: `<prefix>.work.<partition>`. */
export function workSubject(opts: WorkOptions, partition: number): string {
  if (!Number.isSafeInteger(partition) || partition < 0 || partition >= opts.partitions)
    throw new RangeError(`partition ${partition} is not one of 0–${opts.partitions - 1}`);
  return `${opts.prefix}.work.${partition}`;
}

/** The durable name of partition `partition`'s consumer: `<prefix>-work-<partition>`. */
export function workConsumerName(opts: WorkOptions, partition: number): string {
  workSubject(opts, partition);
  return `${opts.prefix}-work-${partition}`;
}

function streamConfig(o: WorkOptions): Partial<StreamConfig> & { name: string } {
  return workQueueStreamConfig(o.stream, [`${o.prefix}.work.*`], o);
}

/**
 * Creates the work stream, or brings an existing one to these settings (limits, window, replicas);
 * idempotent, so every host and worker may call it at start. Refuses a same-named stream that is not a
 * work queue on file storage, since those cannot be changed in place.
 */
export async function ensureWorkStream(jsm: JetStreamManager, input: WorkOptionsInput): Promise<StreamInfo> {
  return ensureStream(jsm, streamConfig(parseWorkOptions(input)), 'the work stream');
}

/** What JetStream answered to one publish (`duplicate`: the file id was stored within the window, this copy dropped). */
export type WorkPublished = Published;

/** One arrived file, as the host publishes it. */
export interface WorkFile {
  /** Globally unique and stable across re-publishes: the message id. */
  id: string;
  /** The patient's pseudonym: decides the partition. */
  pseudonym: string;
  bytes: Uint8Array;
  /** The inbox it came from (headers H_GATEWAY, H_FILE); validated before the publish. */
  headers?: WorkHeaders;
}

/**
 * Publishes `file` to its partition's subject with message id = file id and waits for the stream to store
 * it. Rejects when the stream is full (discard new) or the acknowledgement times out; the host then keeps
 * the file and publishes it again later (the id makes that safe within the window).
 */
export async function publishWork(
  js: JetStreamClient,
  input: WorkOptionsInput,
  file: WorkFile,
): Promise<WorkPublished> {
  const o = parseWorkOptions(input);
  if (file.id.length === 0) throw new RangeError('a work file needs a non-empty id');
  const subject = workSubject(o, partitionOf(file.pseudonym, o.partitions));
  let hdrs: ReturnType<typeof natsHeaders> | undefined;
  if (file.headers) {
    const h = parseContract('work message headers', workHeadersSchema, file.headers);
    hdrs = natsHeaders();
    hdrs.set(H_GATEWAY, h.gateway);
    hdrs.set(H_FILE, h.file);
  }
  // Refused if the subject is captured by some other stream.
  return publishOnce(js, o, subject, file.bytes, file.id, hdrs);
}

/**
 * Creates partition `partition`'s durable pull consumer, or brings an existing one to these settings
 * (`ack_wait`, `max_ack_pending`); idempotent. Refuses a same-named consumer that filters another subject.
 */
export async function workConsumer(
  jsm: JetStreamManager,
  input: WorkOptionsInput,
  partition: number,
): Promise<ConsumerInfo> {
  const o = parseWorkOptions(input);
  return ensureDurableConsumer(jsm, o.stream, {
    durable_name: workConsumerName(o, partition),
    filter_subject: workSubject(o, partition),
    ack_policy: AckPolicy.Explicit,
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: o.maxAckPending,
    deliver_policy: DeliverPolicy.All,
    // Unlimited redelivery: a file that keeps failing stays in the queue (visible in the consumer's
    // redelivery counts) rather than being skipped.
    max_deliver: -1,
  });
}
