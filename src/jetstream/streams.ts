/**
 * What the work stream (work.ts) and the results stream (results.ts) do alike: validate their options, create or
 * update a work-queue stream and a durable pull consumer idempotently, and publish with a message id.
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';

/** JetStream API error: a stream of this name exists with another configuration. */
const STREAM_NAME_EXISTS = 10058;
const STREAM_SUBJECT_OVERLAP = 10065;

/**
 * True when a create of stream `name` failed only because another creator made the same stream at the same moment.
 * nats-server 2.9.10 can answer one of several concurrent creates of one stream (workers and hosts starting
 * together, or a KV bucket opened by several of them) with "subjects overlap with an existing stream" (10065)
 * rather than with the stream it just made; the stream by that name then exists, and the create is done.
 */
export async function createdConcurrently(jsm: JetStreamManager, name: string, err: unknown): Promise<boolean> {
  if (!(err instanceof JetStreamApiError && err.code === STREAM_SUBJECT_OVERLAP)) return false;
  try {
    await jsm.streams.info(name);
    return true;
  } catch {
    return false;
  }
}

export const NS_PER_MS = 1_000_000;

/**
 * Validates `input` against `schema`; a ConfigError names `what` and the first bad option. A duplicate window
 * longer than the age limit is refused too (ids would be remembered for messages long gone by age).
 */
export function parseStreamOptions<S extends z.ZodType<{ duplicateWindowMs: number; maxAgeMs: number }>>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name =
      issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || '(options)';
    throw new ConfigError(`${what} option ${name}: ${issue.message}`, { cause: parsed.error });
  }
  const o = parsed.data;
  if (o.maxAgeMs > 0 && o.duplicateWindowMs > o.maxAgeMs)
    throw new ConfigError(
      `${what} option duplicateWindowMs (${o.duplicateWindowMs}) must not exceed maxAgeMs (${o.maxAgeMs})`,
    );
  return o;
}

/**
 * The configuration both streams share: a work queue on file storage (a message leaves once its one consumer
 * acknowledges it), `replicas`, the duplicate window, the age and size limits. Discard new, not old: a full
 * stream refuses the publish (the publisher keeps its copy and retries) rather than delete the oldest
 * unprocessed message to make room. No message is deleted by hand: one leaves only by acknowledgement or age.
 */
export function workQueueStreamConfig(
  name: string,
  subjects: string[],
  o: { replicas: number; duplicateWindowMs: number; maxAgeMs: number; maxBytes: number },
): Partial<StreamConfig> & { name: string } {
  return {
    name,
    subjects,
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: o.replicas,
    duplicate_window: o.duplicateWindowMs * NS_PER_MS,
    max_age: o.maxAgeMs * NS_PER_MS,
    max_bytes: o.maxBytes,
    discard: DiscardPolicy.New,
    deny_delete: true,
  };
}

/**
 * Creates the stream `cfg` describes, or brings an existing one to its settings (limits, window, replicas);
 * idempotent. Refuses a same-named stream of another retention or storage, which cannot be changed in place.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  cfg: Partial<StreamConfig> & { name: string },
  what: string,
): Promise<StreamInfo> {
  try {
    return await jsm.streams.add(cfg);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_EXISTS) && !(await createdConcurrently(jsm, cfg.name, err)))
      throw err;
  }
  const cur = await jsm.streams.info(cfg.name);
  if (cur.config.retention !== cfg.retention || cur.config.storage !== cfg.storage)
    throw new ConfigError(
      `stream ${cfg.name} exists with retention ${cur.config.retention} and storage ${cur.config.storage}; ` +
        `${what} needs ${cfg.retention} on ${cfg.storage} (delete or rename the old stream)`,
    );
  const { name, retention: _r, storage: _s, ...mutable } = cfg;
  return jsm.streams.update(name, mutable);
}

/**
 * Creates the durable consumer `cfg` describes on `stream`, or brings an existing one to its `ack_wait`,
 * `max_ack_pending` and `max_deliver`; idempotent. Refuses a same-named consumer that filters another subject.
 */
export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  stream: string,
  cfg: Partial<ConsumerConfig> & { durable_name: string },
): Promise<ConsumerInfo> {
  let failure: unknown;
  try {
    return await jsm.consumers.add(stream, cfg);
  } catch (err) {
    failure = err;
  }
  let cur: ConsumerInfo;
  try {
    cur = await jsm.consumers.info(stream, cfg.durable_name);
  } catch {
    throw failure;
  }
  // The server leaves out an empty filter.
  if ((cur.config.filter_subject || undefined) !== (cfg.filter_subject || undefined))
    throw new ConfigError(
      `consumer ${cfg.durable_name} on ${stream} filters ${cur.config.filter_subject ?? '(nothing)'}, ` +
        `not ${cfg.filter_subject ?? '(nothing)'}`,
    );
  return jsm.consumers.update(stream, cfg.durable_name, {
    ack_wait: cfg.ack_wait,
    max_ack_pending: cfg.max_ack_pending,
    max_deliver: cfg.max_deliver,
  });
}

/** What JetStream answered to one publish. */
export interface Published {
  /** The stream sequence of the stored message (of the first copy, for a duplicate). */
  seq: number;
  /** True when the id was already stored within the duplicate window and this copy was dropped. */
  duplicate: boolean;
}

/**
 * Publishes to `subject` with message id `msgID` and waits (at most `timeoutMs`) for stream `stream` to store it;
 * refused if some other stream captures the subject.
 */
export async function publishOnce(
  js: JetStreamClient,
  target: { stream: string; timeoutMs: number },
  subject: string,
  data: Uint8Array | string,
  msgID: string,
  headers?: MsgHdrs,
): Promise<Published> {
  const ack = await js.publish(subject, data, {
    msgID,
    timeout: target.timeoutMs,
    expect: { streamName: target.stream },
    ...(headers ? { headers } : {}),
  });
  return { seq: ack.seq, duplicate: ack.duplicate };
}

/**
 * The subjects of `stream` that start with `prefix`, each without it: one stream-info request (subjects filtered),
 * answered by the stream's leader, and no consumer created (listings through a consumer timed out on a 2.9.10
 * cluster with a node down).
 */
export async function subjectsUnder(jsm: JetStreamManager, stream: string, prefix: string): Promise<string[]> {
  const si = await jsm.streams.info(stream, { subjects_filter: `${prefix}>` });
  return Object.keys(si.state.subjects ?? {}).map((s) => s.slice(prefix.length));
}
