/**
 * The cloud host in JetStream mode (issue 11): no enclave in the host. Each tick publishes every arrived file to the
 * partitioned work stream (the enclave workers consume it) and files it away once the stream holds it (commit point
 * J1); a loop takes the workers' sealed results and refusals from the results stream and writes them to the
 * gateways' outboxes, acknowledging each only once its bundle is durable (J3); attestation requests go to any
 * worker over NATS request/reply. docs/pipeline.md has the commit points.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  jetstream,
  jetstreamManager,
  type Consumer,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { readEnvelopeHeader } from '../crypto/index.js';
import { ConfigError, HrvaultError, type ErrorCode } from '../errors.js';
import {
  ensureResultsStream,
  ensureWorkStream,
  fetchResults,
  parseResultsOptions,
  parseWorkOptions,
  publishWork,
  readAttestReply,
  resultsConsumer,
  subjects,
  type Refusal,
  type ResultsBatch,
  type ResultsOptions,
  type ResultsOptionsInput,
  type WorkOptions,
  type WorkOptionsInput,
} from '../jetstream/index.js';
import { inputTag, quarantineStored, type DoneInput } from './filing.js';
import { areaDir } from './sftp-server.js';

/** The `jetstream` option of startCloud. */
export interface CloudJetstreamOptions {
  /** An open connection; the caller owns it (the host never closes it). */
  nc: NatsConnection;
  /** The work stream the host publishes to (prefix, partitions, replicas, limits). */
  work: WorkOptionsInput;
  /** The results stream and the host's consumer; the prefix is the work stream's, replicas default to its. */
  results?: Omit<ResultsOptionsInput, 'prefix'>;
  /** How long an attestation request waits for a worker's quote (ms; default 5000). */
  attestTimeoutMs?: number;
  /** Files of one tick in flight to the work stream at once (default 256). */
  maxPublishInFlight?: number;
  /** Messages taken from the results stream per batch, at most one bundle per gateway each (default 256). */
  resultsBatch?: number;
}

const extraSchema = z.strictObject({
  attestTimeoutMs: z.number().int().min(1).max(600_000).default(5000),
  maxPublishInFlight: z.number().int().min(1).max(10_000).default(256),
  resultsBatch: z.number().int().min(1).max(10_000).default(256),
});

/** The validated settings of JetStream mode. */
export interface JetstreamHostSettings {
  work: WorkOptions;
  results: ResultsOptions;
  attestTimeoutMs: number;
  maxPublishInFlight: number;
  resultsBatch: number;
}

/** Validates the `jetstream` option; a ConfigError names the first bad setting. */
export function parseJetstreamHostOptions(o: CloudJetstreamOptions): JetstreamHostSettings {
  const work = parseWorkOptions(o.work);
  if (
    o.results !== undefined &&
    (typeof o.results !== 'object' || o.results === null || 'prefix' in o.results)
  )
    throw new ConfigError('jetstream results options: the prefix is the work stream’s, not set apart');
  // The results stream is as replicated as the work stream unless told otherwise.
  const results = parseResultsOptions({ replicas: work.replicas, ...o.results, prefix: work.prefix });
  const { nc: _nc, work: _w, results: _r, ...extra } = o;
  const parsed = extraSchema.safeParse(extra);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name =
      issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || '(options)';
    throw new ConfigError(`jetstream option ${name}: ${issue.message}`, { cause: parsed.error });
  }
  return { work, results, ...parsed.data };
}

type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** What the host gives JetStream mode to work with (its directories, counters and commit helpers). */
export interface JetstreamHostContext {
  root: string;
  gateways: ReadonlySet<string>;
  log: Log;
  /** Counters this mode adds to (the host's CloudStats). */
  stats: { results_written: number; bad_messages: number };
  /** Counts and logs a refused file. */
  recordReject(r: { gateway: string; name: string; code: ErrorCode; reason: string }): void;
  /** Writes one result bundle into a gateway's outbox durably (the host's one bundle writer). */
  writeBundle(gateway: string, results: { name: string; bytes: Uint8Array }[]): Promise<void>;
  /** Runs `fn` after the filing of every committed input queued so far (so a stored input is really in store/). */
  afterFiling<T>(fn: () => Promise<T>): Promise<T>;
}

/** What one tick's publishing settled. */
export interface PublishOutcome {
  /** For the tick's done manifest (J1): inputs the stream holds, and inputs refused at once (with their reason). */
  inputs: DoneInput[];
  /** First copies stored by the stream. */
  published: number;
  /** Copies the stream dropped as duplicates of a file it already had (a re-publish after a crash). */
  duplicates: number;
  /** Refused at once: no readable header, or a header naming another gateway than the inbox. */
  rejected: number;
  /** Publishes that failed (stream full, no answer): those files stay in the inbox for the next tick. */
  failed: number;
}

export interface JetstreamHost {
  /** Publishes a tick's files; never rejects (a failed publish is counted in `failed` and logged). */
  publish(files: { gateway: string; name: string; bytes: Uint8Array }[]): Promise<PublishOutcome>;
  /** Asks any worker for a quote over `nonce`; rejects with the worker's error, a timeout or no responders. */
  quote(nonce: Uint8Array): Promise<unknown>;
  /** Starts the loop that writes results to the outboxes. */
  startResults(): void;
  /** Stops the results loop after the batch in hand is written and acknowledged. */
  stop(): Promise<void>;
}

/** A refusal for an input still in the inbox is tried again after this long (its J1 manifest files it meanwhile). */
const REFUSAL_RETRY_MS = 1000;
/** …at most this many times; then it is recorded as it is (the input left where it was). */
const REFUSAL_MAX_DELIVERIES = 30;
/** How long one fetch waits for the first result (also how long stop() may wait for the loop). */
const FETCH_EXPIRES_MS = 1000;
/** Pause after a failed fetch (connection lost, consumer gone) before the next. */
const RETRY_PAUSE_MS = 1000;
/** A failure class (publish, results) is logged at most once per this many ms; every instance is counted. */
const LOG_EVERY_MS = 60_000;

/** Runs `fn` over `items` with at most `limit` calls pending at once. */
async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Makes sure the work stream, the results stream and the host's consumer exist with these settings (idempotent),
 * and returns JetStream mode's host side; the results loop starts with startResults().
 */
export async function openJetstreamHost(
  opts: CloudJetstreamOptions,
  s: JetstreamHostSettings,
  ctx: JetstreamHostContext,
): Promise<JetstreamHost> {
  const { nc } = opts;
  if (nc.isClosed()) throw new ConfigError('jetstream: the NATS connection is closed');
  const jsm = await jetstreamManager(nc);
  const js: JetStreamClient = jetstream(nc);
  await ensureWorkStream(jsm, s.work);
  await ensureResultsStream(jsm, s.results);
  await resultsConsumer(jsm, s.results);
  const consumer: Consumer = await js.consumers.get(s.results.stream, s.results.durable);
  const { log } = ctx;
  const loggedAt = new Map<string, number>();
  /** Logs `msg` unless it was logged less than LOG_EVERY_MS ago (a full stream fails every publish of every tick). */
  const logThrottled = (level: 'warn' | 'error', msg: string, fields: Record<string, unknown>): void => {
    const now = Date.now();
    if (now - (loggedAt.get(msg) ?? -Infinity) < LOG_EVERY_MS) return;
    loggedAt.set(msg, now);
    log(level, msg, fields);
  };

  const publish = async (
    files: { gateway: string; name: string; bytes: Uint8Array }[],
  ): Promise<PublishOutcome> => {
    const out: PublishOutcome = { inputs: [], published: 0, duplicates: 0, rejected: 0, failed: 0 };
    let firstError: unknown;
    await forEachBounded(files, s.maxPublishInFlight, async (f) => {
      const digest = inputTag(f.bytes);
      let patient: string;
      try {
        const h = readEnvelopeHeader(f.bytes);
        if (h.gateway !== f.gateway)
          throw new HrvaultError(
            'HRV_ERR_ENVELOPE_SIGNATURE',
            `file in ${f.gateway}'s inbox claims gateway '${h.gateway}'`,
          );
        patient = h.patient;
      } catch (err) {
        // Refused at once, as the embedded host's reject path does: quarantined with the reason by the manifest.
        out.rejected++;
        out.inputs.push({
          gateway: f.gateway,
          name: f.name,
          digest,
          reject: {
            code: err instanceof HrvaultError ? err.code : 'HRV_ERR_ENVELOPE_CONTENT',
            reason: message(err),
          },
        });
        return;
      }
      try {
        const r = await publishWork(js, s.work, {
          id: `${f.gateway}/${f.name}/${digest}`,
          pseudonym: `${f.gateway}/${patient}`,
          bytes: f.bytes,
          headers: { gateway: f.gateway, file: f.name },
        });
        if (r.duplicate) out.duplicates++;
        else out.published++;
        out.inputs.push({ gateway: f.gateway, name: f.name, digest });
      } catch (err) {
        out.failed++;
        firstError ??= err;
      }
    });
    if (out.failed > 0) {
      // A full stream (discard new) is back-pressure: the files wait in the inbox and the next tick offers them again.
      logThrottled('warn', 'work stream refused publishes; those files stay in the inbox for the next tick', {
        failed: out.failed,
        of: files.length,
        error: message(firstError),
      });
    }
    return out;
  };

  const quote = async (nonce: Uint8Array): Promise<unknown> => {
    const reply = await nc.request(subjects(s.work.prefix).attest, nonce, { timeout: s.attestTimeoutMs });
    const r = readAttestReply(reply.data);
    if (!('v' in r))
      throw new HrvaultError(
        r.error.code as ErrorCode,
        `the worker refused the attestation: ${r.error.message}`,
      );
    if (r.nonce !== Buffer.from(nonce).toString('hex'))
      throw new HrvaultError('HRV_ERR_CONTRACT', 'attestation reply answers another nonce');
    return r;
  };

  /** A refusal: the input leaves store/ for quarantine/ with its reason. Returns false to have it delivered again later. */
  const refuse = async (msg: JsMsg, r: Refusal): Promise<boolean> => {
    const reject = { code: r.code as ErrorCode, reason: r.reason };
    const moved = await ctx.afterFiling(() => quarantineStored(ctx.root, r.gateway, r.file, reject));
    // Still in the inbox: published, but its tick's manifest (J1) has not filed it yet; it will be in store/ soon.
    if (
      !moved &&
      existsSync(join(areaDir(ctx.root, r.gateway, 'inbox'), r.file)) &&
      msg.info.deliveryCount < REFUSAL_MAX_DELIVERIES
    )
      return false;
    ctx.recordReject({ gateway: r.gateway, name: r.file, code: reject.code, reason: reject.reason });
    if (!moved)
      log('warn', 'refused input not in the store (quarantined before, or gone)', {
        gateway: r.gateway,
        name: r.file,
      });
    return true;
  };

  /**
   * One batch from the results stream. Commit point J3: every result's bundle is durable before any message of the
   * batch is acknowledged; a crash in between redelivers them and the next bundle repeats the same result bytes
   * (the gateway keeps one copy and refuses the other as a replay).
   */
  const handle = async (batch: ResultsBatch): Promise<void> => {
    const bad: { msg: JsMsg; reason: string }[] = batch.bad.map((b) => ({
      msg: b.msg,
      reason: b.error.message,
    }));
    const byGateway = new Map<string, Map<string, Uint8Array>>();
    const results: JsMsg[] = [];
    const refusals: { msg: JsMsg; refusal: Refusal }[] = [];
    for (const { msg, message: m } of batch.good) {
      const gw = m.kind === 'result' ? m.headers.gateway : m.refusal.gateway;
      if (!ctx.gateways.has(gw)) {
        bad.push({ msg, reason: `${m.kind} for unknown gateway ${gw}` });
        continue;
      }
      if (m.kind === 'refusal') {
        refusals.push({ msg, refusal: m.refusal });
        continue;
      }
      // A result and its redelivery in one batch carry the same bytes: bundled once.
      (byGateway.get(gw) ?? byGateway.set(gw, new Map()).get(gw)!).set(m.headers.result, m.bytes);
      results.push(msg);
    }
    for (const b of bad) {
      ctx.stats.bad_messages++;
      logThrottled('warn', 'results stream message refused and terminated', {
        subject: b.msg.subject,
        seq: b.msg.seq,
        code: 'HRV_ERR_CONTRACT',
        reason: b.reason,
        refused_so_far: ctx.stats.bad_messages,
      });
      // No reason with the term: nats-server 2.9 ignores a `+TERM <reason>` and redelivers the message.
      b.msg.term();
    }
    try {
      await Promise.all(
        [...byGateway].map(([gw, m]) =>
          ctx.writeBundle(
            gw,
            [...m].map(([name, bytes]) => ({ name, bytes })),
          ),
        ),
      );
      for (const m of byGateway.values()) ctx.stats.results_written += m.size;
      for (const m of results) m.ack();
    } catch (err) {
      // Not acknowledged: delivered again shortly (a full disk) and written then.
      logThrottled('error', 'writing result bundles failed; the results are delivered again', {
        results: results.length,
        error: message(err),
      });
      for (const m of results) m.nak(RETRY_PAUSE_MS);
    }
    for (const { msg, refusal } of refusals) {
      try {
        if (await refuse(msg, refusal)) msg.ack();
        else msg.nak(REFUSAL_RETRY_MS);
      } catch (err) {
        logThrottled('error', 'quarantining a refused input failed; the refusal is delivered again', {
          gateway: refusal.gateway,
          name: refusal.file,
          error: message(err),
        });
        msg.nak(RETRY_PAUSE_MS);
      }
    }
  };

  const stopping = new AbortController();
  let loop: Promise<void> | undefined;
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      stopping.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  const run = async (): Promise<void> => {
    while (!stopping.signal.aborted) {
      try {
        const batch = await fetchResults(consumer, s.work.prefix, {
          max: s.resultsBatch,
          expiresMs: FETCH_EXPIRES_MS,
          signal: stopping.signal,
        });
        await handle(batch);
      } catch (err) {
        logThrottled('error', 'taking results from the results stream failed; trying again', {
          error: message(err),
        });
        await pause(RETRY_PAUSE_MS);
      }
    }
  };

  return {
    publish,
    quote,
    startResults: () => {
      loop ??= run();
    },
    stop: async () => {
      stopping.abort();
      await loop;
    },
  };
}
