/**
 * The results stream: what the enclave workers send back to the host — sealed results for the gateways' outboxes
 * and refusals of files — and the host's one durable consumer of it (wire: messages.ts).
 *
 * What each setting means for a crash:
 * - **File storage, `replicas`.** A result the stream acknowledged to a worker survives a restart of the server
 *   (and, with 3 replicas on a cluster, the loss of one node); the worker acknowledges its work message only
 *   after that, so between the two the result exists in exactly one durable place or the other.
 * - **Work-queue retention, one durable consumer (the host's).** A result leaves the stream only when the host
 *   acknowledges it, which it does only after the result's bundle is durable in the gateway's outbox (commit
 *   point J3, docs/pipeline.md). A host that dies first finds the message still there after its restart (the
 *   consumer is durable: its position lives on the server, not in the host).
 * - **`ack_wait`.** A message delivered to a host that died, or that could not write its bundle, is delivered again
 *   after this long; the bundle then repeats the same result bytes, which the gateway refuses as a replay.
 * - **`max_ack_pending`.** Bounds what one host has in hand unacknowledged (its memory and its redelivery burst).
 * - **Discard new, `max_bytes`.** A full stream refuses the worker's publish instead of deleting an unread result;
 *   the worker keeps its work message unacknowledged and publishes again later (back-pressure to the workers
 *   while the host is away or behind).
 * - **Duplicate window.** Message id = `<gateway>/<result name>` (a refusal: `refusal/<gateway>/<file>`): a worker
 *   that died after publishing and before acknowledging its work publishes the same result again after the
 *   restart; within the window the stream drops the copy, past it the gateway's replay check catches it.
 * - **`max_age`.** How long results may wait for a host that is down before they are given up (days; 0 = never).
 */
import {
  AckPolicy,
  DeliverPolicy,
  type Consumer,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { z } from 'zod';
import { parseContract } from '../contracts/index.js';
import { HrvaultError } from '../errors.js';
import {
  H_GATEWAY,
  H_PATIENT,
  H_RESULT,
  H_SEQ,
  H_TOKEN,
  readRefusal,
  readResultHeaders,
  refusalSchema,
  resultHeadersSchema,
  subjects,
  type Refusal,
  type ResultHeaders,
} from './messages.js';
import {
  NS_PER_MS,
  workQueueStreamConfig,
  ensureDurableConsumer,
  ensureStream,
  parseStreamOptions,
  publishOnce,
  type Published,
} from './streams.js';
import { collectPull } from './pull.js';
import { workOptionsSchema } from './work.js';

/** The results stream's and the host consumer's settings, as a caller gives them (times in ms, sizes in bytes). */
export const resultsOptionsSchema = workOptionsSchema
  .omit({ partitions: true, maxAckPending: true, ackWaitMs: true })
  .extend({
    /** Messages the host may have delivered and unacknowledged (default 1024). */
    maxAckPending: z.number().int().min(1).max(100_000).default(1024),
    /** Time the host has to write a result's bundle and acknowledge it before it is delivered again (default 30 s). */
    ackWaitMs: z.number().int().min(100).default(30_000),
    /** The host consumer's durable name (default `<prefix>-host`). */
    durable: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, '1–64 letters, digits, _ or -')
      .optional(),
  });
export type ResultsOptionsInput = z.input<typeof resultsOptionsSchema>;
export type ResultsOptions = Omit<z.output<typeof resultsOptionsSchema>, 'stream' | 'durable'> & {
  stream: string;
  durable: string;
};

/** Validates and completes results-stream options; a ConfigError names the first bad option. */
export function parseResultsOptions(input: unknown): ResultsOptions {
  const o = parseStreamOptions(resultsOptionsSchema, input, 'results stream');
  return {
    ...o,
    stream: o.stream ?? subjects(o.prefix).resultsStream,
    durable: o.durable ?? `${o.prefix}-host`,
  };
}

function streamConfig(o: ResultsOptions): Partial<StreamConfig> & { name: string } {
  return workQueueStreamConfig(o.stream, subjects(o.prefix).resultsStreamSubjects, o);
}

/**
 * Creates the results stream, or brings an existing one to these settings; idempotent (every host and worker may
 * call it at start). Refuses a same-named stream that is not a work queue on file storage.
 */
export async function ensureResultsStream(
  jsm: JetStreamManager,
  input: ResultsOptionsInput,
): Promise<StreamInfo> {
  return ensureStream(jsm, streamConfig(parseResultsOptions(input)), 'the results stream');
}

/** What JetStream answered to one result or refusal publish. */
export type ResultPublished = Published;

/** One sealed result, as a worker publishes it. */
export interface ResultToPublish extends ResultHeaders {
  bytes: Uint8Array;
}

/**
 * Publishes a sealed result to `<prefix>.results.<gateway>` (message id `<gateway>/<result>`) and waits for the
 * stream to store it; rejects on invalid headers (HRV_ERR_CONTRACT), a full stream or a timeout.
 */
export async function publishResult(
  js: JetStreamClient,
  input: ResultsOptionsInput,
  result: ResultToPublish,
): Promise<ResultPublished> {
  const o = parseResultsOptions(input);
  const { bytes, ...fields } = result;
  const h = parseContract('result message headers', resultHeadersSchema, fields);
  const hdrs = natsHeaders();
  hdrs.set(H_GATEWAY, h.gateway);
  hdrs.set(H_RESULT, h.result);
  hdrs.set(H_PATIENT, h.patient);
  hdrs.set(H_SEQ, String(h.seq));
  hdrs.set(H_TOKEN, String(h.token));
  return publishOnce(js, o, subjects(o.prefix).results(h.gateway), bytes, `${h.gateway}/${h.result}`, hdrs);
}

/** Publishes a refusal to `<prefix>.refusals.<gateway>` (message id `refusal/<gateway>/<file>`, JSON body). */
export async function publishRefusal(
  js: JetStreamClient,
  input: ResultsOptionsInput,
  refusal: Refusal,
): Promise<ResultPublished> {
  const o = parseResultsOptions(input);
  const r = parseContract('refusal message', refusalSchema, refusal);
  return publishOnce(
    js,
    o,
    subjects(o.prefix).refusals(r.gateway),
    JSON.stringify(r),
    `refusal/${r.gateway}/${r.file}`,
  );
}

/**
 * Creates the host's durable pull consumer of the results stream (explicit ack, `ack_wait`, `max_ack_pending`), or
 * brings an existing one to these settings; idempotent.
 */
export async function resultsConsumer(
  jsm: JetStreamManager,
  input: ResultsOptionsInput,
): Promise<ConsumerInfo> {
  const o = parseResultsOptions(input);
  return ensureDurableConsumer(jsm, o.stream, {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: o.maxAckPending,
    deliver_policy: DeliverPolicy.All,
    // A result the host cannot write yet (a full disk) is delivered again and again rather than skipped: skipping
    // it would lose it, since the worker has already acknowledged its work.
    max_deliver: -1,
  });
}

/** One message of the results stream, validated. */
export type ResultsMessage =
  { kind: 'result'; headers: ResultHeaders; bytes: Uint8Array } | { kind: 'refusal'; refusal: Refusal };

/**
 * Reads one message of the results stream: its subject says whether it is a result or a refusal and for which
 * gateway, and the headers (or the JSON body) must agree with it. Throws HRV_ERR_CONTRACT on anything else.
 */
export function readResultsMessage(
  prefix: string,
  msg: Pick<JsMsg, 'subject' | 'headers' | 'data'>,
): ResultsMessage {
  const parts = msg.subject.split('.');
  const [p, kind, gateway] = parts;
  if (parts.length !== 3 || p !== prefix || (kind !== 'results' && kind !== 'refusals'))
    throw new HrvaultError(
      'HRV_ERR_CONTRACT',
      `results stream message on an unexpected subject ${msg.subject}`,
    );
  if (kind === 'results') {
    const headers = readResultHeaders(msg.headers);
    if (headers.gateway !== gateway)
      throw new HrvaultError('HRV_ERR_CONTRACT', `result for gateway ${headers.gateway} on ${msg.subject}`);
    if (msg.data.length === 0) throw new HrvaultError('HRV_ERR_CONTRACT', 'result message has an empty body');
    return { kind: 'result', headers, bytes: msg.data };
  }
  const refusal = readRefusal(msg.data);
  if (refusal.gateway !== gateway)
    throw new HrvaultError('HRV_ERR_CONTRACT', `refusal for gateway ${refusal.gateway} on ${msg.subject}`);
  return { kind: 'refusal', refusal };
}

/** A fetched batch: the valid messages (each with its JetStream message, to acknowledge) and the invalid ones. */
export interface ResultsBatch {
  good: { msg: JsMsg; message: ResultsMessage }[];
  bad: { msg: JsMsg; error: HrvaultError }[];
}

/**
 * Pulls up to `max` messages from the host consumer, waiting at most `expiresMs` for the first, and validates each.
 * Invalid messages are returned apart, not thrown: one bad message must not stop the ones behind it. `signal`
 * ends the wait early (the host stopping).
 */
export async function fetchResults(
  consumer: Consumer,
  prefix: string,
  opts: { max: number; expiresMs: number; signal?: AbortSignal },
): Promise<ResultsBatch> {
  const out: ResultsBatch = { good: [], bad: [] };
  if (opts.signal?.aborted) return out;
  const iter = await consumer.fetch({ max_messages: opts.max, expires: opts.expiresMs });
  const stop = (): void => iter.stop();
  opts.signal?.addEventListener('abort', stop, { once: true });
  let msgs: JsMsg[];
  try {
    // Missed heartbeats end this pull (./pull.ts): the results in hand are written as any pull's.
    msgs = await collectPull(iter);
  } finally {
    opts.signal?.removeEventListener('abort', stop);
  }
  for (const msg of msgs) {
    try {
      out.good.push({ msg, message: readResultsMessage(prefix, msg) });
    } catch (err) {
      out.bad.push({
        msg,
        error:
          err instanceof HrvaultError
            ? err
            : new HrvaultError('HRV_ERR_CONTRACT', err instanceof Error ? err.message : String(err), {
                cause: err,
              }),
      });
    }
  }
  return out;
}
