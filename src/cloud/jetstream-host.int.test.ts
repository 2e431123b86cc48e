/**
 * The cloud host in JetStream mode against the standalone nats-server on 127.0.0.1:4222 (skipped with a printed
 * reason where none answers or it has no JetStream): files sealed by a real gateway producer are published to the
 * work stream once and filed away (J1), a restart that lost the manifest publishes duplicates the stream drops,
 * results land in the outbox before they are acknowledged (J3), bad results are terminated and counted, a refusal
 * quarantines its input, and attestation is answered by a NATS responder with a real quote. Each test uses its own
 * prefix and data directory; the streams are deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers } from '@nats-io/transport-node';
import SftpClient from 'ssh2-sftp-client';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createQuote,
  generateHpkeKeyPair,
  generateSigningKeyPair,
  generateSshKeyPair,
  keyIdOf,
  sealEnvelope,
  verifyQuoteDetails,
} from '../crypto/index.js';
import { ConfigError } from '../errors.js';
import {
  H_FILE,
  H_GATEWAY,
  H_PATIENT,
  H_RESULT,
  H_SEQ,
  H_TOKEN,
  parseResultsOptions,
  parseWorkOptions,
  partitionOf,
  publishRefusal,
  publishResult,
  subjects,
  workConsumer,
  workConsumerName,
  workSubject,
  type ResultsOptions,
  type WorkOptions,
} from '../jetstream/index.js';
import { waitUntil } from '../test-support/nats-cluster.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';
import { inputTag } from './filing.js';
import { outboxBundles, readOutboxResults, startCloud, type CloudHandle } from './index.js';
import { standaloneSkipReason, useStandalone } from '../jetstream/test-support/standalone.js';

const skipReason = await standaloneSkipReason();

const RUN = `h${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const root = mkdtempSync(join(tmpdir(), 'cloud-js-'));
const gw = makeGateway('gw-1');
const ssh = generateSshKeyPair();
/** The enclave workers' key pairs: the gateway seals to this, the quotes vouch for it. */
const enclaveKeys = generateHpkeKeyPair();
const enclaveSigning = generateSigningKeyPair();
const platform = generateSigningKeyPair();
const MEASUREMENT = 'cd'.repeat(32);

describe.skipIf(skipReason !== null)('the cloud host in JetStream mode', () => {
  const nats = useStandalone();
  const streams = nats.streams;
  const clouds: CloudHandle[] = [];
  let n = 0;

  afterAll(async () => {
    for (const c of clouds) await c.stop();
    rmSync(root, { recursive: true, force: true });
  });

  interface Host {
    cloud: CloudHandle;
    dir: string;
    work: WorkOptions;
    results: ResultsOptions;
    logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  }

  /** A JetStream-mode host on its own prefix (or on `reuse`'s directory and prefix: a restart). */
  async function host(reuse?: Host, workLimits: { maxBytes?: number } = {}): Promise<Host> {
    const prefix = reuse?.work.prefix ?? `${RUN}-${n++}`;
    const dir = reuse?.dir ?? join(root, prefix);
    const workInput = { prefix, partitions: 4, replicas: 1, ...workLimits };
    const work = parseWorkOptions(workInput);
    const results = parseResultsOptions({ prefix, replicas: 1 });
    if (!reuse) streams.push(work.stream, results.stream);
    const logs: Host['logs'] = [];
    const cloud = await startCloud({
      dataDir: dir,
      gateways: [{ id: gw.id, sshPublicKey: ssh.public }],
      batchIntervalMs: 60_000,
      mode: 'secure',
      jetstream: {
        nc: nats.nc,
        work: workInput,
        results: { replicas: 1 },
        attestTimeoutMs: 2000,
      },
      log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    });
    clouds.push(cloud);
    return { cloud, dir, work, results, logs };
  }

  /** Waits (10 s at most) until `check` gives something other than undefined. */
  const until = <T>(what: string, check: () => T | undefined | Promise<T | undefined>): Promise<T> =>
    waitUntil(what, 10_000, async () => check());
  const area = (h: Host, a: 'inbox' | 'outbox'): string => join(h.dir, 'gateways', gw.id, a);
  const ls = (d: string): string[] => readdirSync(d).sort();
  const stored = async (stream: string): Promise<number> =>
    (await nats.jsm.streams.info(stream)).state.messages;
  const batches = (count: number) =>
    Array.from({ length: count }, (_, i) =>
      sealedBatch(gw, enclaveKeys.publicKey, `p${i % 2}`, i, i * 10_000, (i + 1) * 10_000),
    );
  /** A sealed result for the gateway, as an enclave worker makes it. */
  const sealedResult = (patient: string, seq: number): Uint8Array =>
    sealEnvelope(
      gw.hpke.publicKey,
      {
        v: 1,
        kind: 'hrv-result',
        gateway: gw.id,
        patient,
        seq,
        t_start_ms: 0,
        t_end_ms: 10_000,
        key_id: keyIdOf(gw.hpke.publicKey),
      },
      new TextEncoder().encode(JSON.stringify({ patient, seq })),
      enclaveSigning.privateKey,
    );

  /** Publishes patient p1's sealed result `seq` for gw-1 as a worker does (fencing token 1); returns its bytes. */
  async function publishP1(h: Host, seq: number): Promise<Uint8Array> {
    const bytes = sealedResult('p1', seq);
    await publishResult(nats.js, h.results, {
      gateway: gw.id,
      result: `p1-${seq}.result`,
      patient: 'p1',
      seq,
      token: 1,
      bytes,
    });
    return bytes;
  }

  async function upload(cloud: CloudHandle, files: { name: string; bytes: Uint8Array }[]): Promise<void> {
    const c = new SftpClient();
    await c.connect({
      host: '127.0.0.1',
      port: cloud.port,
      username: gw.id,
      privateKey: ssh.private,
      readyTimeout: 20_000,
    });
    try {
      for (const f of files) {
        await c.put(Buffer.from(f.bytes), `inbox/${f.name}.part`);
        await c.rename(`inbox/${f.name}.part`, `inbox/${f.name}`);
      }
    } finally {
      await c.end();
    }
  }

  it('publishes each uploaded file once with its headers on its partition, files it to store/, and refuses bad headers at once', async () => {
    const h = await host();
    const good = batches(3);
    const other = makeGateway('gw-2');
    const foreign = { ...sealedBatch(other, enclaveKeys.publicKey, 'p9', 0, 0, 10_000), name: 'p9-0.rrb' };
    const garbage = { name: 'junk.rrb', bytes: new TextEncoder().encode('not an envelope') };
    await upload(h.cloud, [...good, foreign, garbage]);

    const rec = await h.cloud.flush();
    expect(rec).toMatchObject({ files: 5, accepted: 3, duplicates: 0, rejected: 2, failed: 0 });
    expect(await stored(h.work.stream)).toBe(3);
    for (let seq = 1; seq <= 3; seq++) {
      const m = await nats.jsm.streams.getMessage(h.work.stream, { seq });
      const name = m!.header.get(H_FILE);
      const f = good.find((g) => g.name === name)!;
      expect(f).toBeDefined();
      expect(m!.header.get(H_GATEWAY)).toBe(gw.id);
      expect(m!.header.get('Nats-Msg-Id')).toBe(`${gw.id}/${f.name}/${inputTag(f.bytes)}`);
      const patient = f.name.split('-')[0]!;
      expect(m!.subject).toBe(workSubject(h.work, partitionOf(`${gw.id}/${patient}`, 4)));
      expect(Buffer.from(m!.data).equals(Buffer.from(f.bytes))).toBe(true);
    }
    expect(ls(area(h, 'inbox'))).toEqual([]);
    expect(ls(join(h.dir, 'store', gw.id))).toEqual(good.map((g) => g.name).sort());
    const q = ls(join(h.dir, 'quarantine', gw.id));
    expect(q.filter((x) => x.endsWith('.reason.json'))).toHaveLength(2);
    const reasons = q
      .filter((x) => x.endsWith('.reason.json'))
      .map(
        (x) =>
          JSON.parse(readFileSync(join(h.dir, 'quarantine', gw.id, x), 'utf8')) as {
            name: string;
            code: string;
          },
      );
    expect(reasons.find((r) => r.name === 'p9-0.rrb')?.code).toBe('HRV_ERR_ENVELOPE_SIGNATURE');
    expect(reasons.find((r) => r.name === 'junk.rrb')).toBeDefined();
    expect(h.cloud.stats()).toMatchObject({ files: 5, published: 3, duplicates_published: 0 });
    expect(
      h.cloud
        .stats()
        .rejected_files.map((r) => r.name)
        .sort(),
    ).toEqual(['junk.rrb', 'p9-0.rrb']);
    // Nothing more to publish: the next tick is empty.
    expect(await h.cloud.flush()).toMatchObject({ files: 0, accepted: 0 });
  });

  it('after a crash that lost the manifest, the restarted host publishes the files again and the stream drops the duplicates', async () => {
    const first = await host();
    const files = batches(2);
    for (const f of files) writeFileSync(join(area(first, 'inbox'), f.name), f.bytes);
    expect(await first.cloud.flush()).toMatchObject({ files: 2, accepted: 2 });
    await first.cloud.stop();
    // What a crash between the publishes and the manifest leaves: the inputs in the inbox, no manifest.
    for (const f of files)
      renameSync(join(first.dir, 'store', gw.id, f.name), join(area(first, 'inbox'), f.name));
    expect(ls(join(first.dir, 'filing'))).toEqual([]);

    const second = await host(first);
    expect(await second.cloud.flush()).toMatchObject({ files: 2, accepted: 0, duplicates: 2, failed: 0 });
    expect(second.cloud.stats()).toMatchObject({ published: 0, duplicates_published: 2 });
    expect(await stored(first.work.stream)).toBe(2);
    expect(ls(area(second, 'inbox'))).toEqual([]);
    expect(ls(join(second.dir, 'store', gw.id))).toEqual(files.map((f) => f.name).sort());
  });

  it('leaves the files a full work stream refuses in the inbox and publishes them once workers made room', async () => {
    const h = await host(undefined, { maxBytes: 2048 });
    const files = batches(10);
    for (const f of files) writeFileSync(join(area(h, 'inbox'), f.name), f.bytes);
    const first = await h.cloud.flush();
    expect(first.failed).toBeGreaterThan(0);
    expect(first.accepted).toBe(10 - first.failed);
    expect(ls(area(h, 'inbox'))).toHaveLength(first.failed);
    expect(h.cloud.stats().failed_files).toBe(first.failed);
    const refusedLog = (): number =>
      h.logs.filter((l) => l.msg.startsWith('work stream refused publishes')).length;
    expect(refusedLog()).toBe(1);
    // Still full: refused again, counted again, not logged again within the minute.
    expect((await h.cloud.flush()).failed).toBe(first.failed);
    expect(refusedLog()).toBe(1);

    // Workers take and acknowledge what is queued (work-queue retention frees the space), as often as needed.
    for (let round = 0; round < 10 && ls(area(h, 'inbox')).length > 0; round++) {
      for (let p = 0; p < 4; p++) {
        await workConsumer(nats.jsm, h.work, p);
        const c = await nats.js.consumers.get(h.work.stream, workConsumerName(h.work, p));
        // Exactly what is queued, so the fetch ends when it has them rather than at its expiry.
        const queued = (await c.info()).num_pending;
        if (queued === 0) continue;
        for await (const m of await c.fetch({ max_messages: queued, expires: 5000 })) await m.ackAck();
      }
      await h.cloud.flush();
    }
    expect(ls(area(h, 'inbox'))).toEqual([]);
    expect(ls(join(h.dir, 'store', gw.id))).toEqual(files.map((f) => f.name).sort());
    expect(h.cloud.stats()).toMatchObject({ published: 10, duplicates_published: 0 });
  });

  it('writes a result to the outbox bundle and acknowledges it only once the bundle is durable', async () => {
    const h = await host();
    const outbox = area(h, 'outbox');
    const r1 = await publishP1(h, 1);
    await until('the result in the outbox', () => readOutboxResults(outbox).get('p1-1.result'));
    expect(readOutboxResults(outbox).get('p1-1.result')!.equals(Buffer.from(r1))).toBe(true);
    expect(outboxBundles(outbox)).toHaveLength(1);
    await until('the result acknowledged', async () =>
      (await stored(h.results.stream)) === 0 ? true : undefined,
    );
    expect(h.cloud.stats().results_written).toBe(1);

    // The outbox cannot take a bundle (a file where the directory was): the result is not acknowledged.
    rmSync(outbox, { recursive: true });
    writeFileSync(outbox, '');
    const r2 = await publishP1(h, 2);
    await until('the failed write logged', () =>
      h.logs.find((l) => l.msg.startsWith('writing result bundles failed')),
    );
    expect(await stored(h.results.stream)).toBe(1);
    expect(h.cloud.stats().results_written).toBe(1);
    // The outbox is back: the redelivered result is written, then acknowledged.
    rmSync(outbox);
    mkdirSync(outbox);
    await until('the redelivered result in the outbox', () => readOutboxResults(outbox).get('p1-2.result'));
    expect(readOutboxResults(outbox).get('p1-2.result')!.equals(Buffer.from(r2))).toBe(true);
    await until('the redelivered result acknowledged', async () =>
      (await stored(h.results.stream)) === 0 ? true : undefined,
    );
    expect(h.cloud.stats().results_written).toBe(2);
  });

  it('terminates and counts a malformed result or one for an unknown gateway, and goes on', async () => {
    const h = await host();
    const sub = subjects(h.work.prefix);
    const bad = headers();
    for (const [k, v] of [
      [H_GATEWAY, gw.id],
      [H_RESULT, 'p1-1.result'],
      [H_PATIENT, 'p1'],
      [H_SEQ, 'x'],
      [H_TOKEN, '1'],
    ] as const)
      bad.set(k, v);
    await nats.js.publish(sub.results(gw.id), new Uint8Array([1]), { headers: bad });
    await publishResult(nats.js, h.results, {
      gateway: 'gw-9',
      result: 'p1-1.result',
      patient: 'p1',
      seq: 1,
      token: 1,
      bytes: new Uint8Array([1]),
    });
    await publishP1(h, 3);
    await until('the good result written', () => readOutboxResults(area(h, 'outbox')).get('p1-3.result'));
    await until('every message settled', async () =>
      (await stored(h.results.stream)) === 0 ? true : undefined,
    );
    expect(h.cloud.stats()).toMatchObject({ bad_messages: 2, results_written: 1 });
    expect(h.logs.filter((l) => l.msg.startsWith('results stream message refused'))).toHaveLength(1);
  });

  it("quarantines a refused input with the worker's reason", async () => {
    const h = await host();
    const [f] = batches(1);
    writeFileSync(join(area(h, 'inbox'), f!.name), f!.bytes);
    await h.cloud.flush();
    expect(ls(join(h.dir, 'store', gw.id))).toEqual([f!.name]);
    await publishRefusal(nats.js, h.results, {
      gateway: gw.id,
      file: f!.name,
      code: 'HRV_ERR_SEQUENCE_REPLAY',
      reason: 'sequence number already seen',
      token: 1,
    });
    await until('the refusal recorded', () => h.cloud.stats().rejected_files.find((r) => r.name === f!.name));
    expect(ls(join(h.dir, 'store', gw.id))).toEqual([]);
    const q = ls(join(h.dir, 'quarantine', gw.id));
    expect(q.filter((x) => x.endsWith(`-${f!.name}`))).toHaveLength(1);
    const reason = JSON.parse(
      readFileSync(
        join(
          h.dir,
          'quarantine',
          gw.id,
          q.find((x) => x.endsWith('.reason.json'))!,
        ),
        'utf8',
      ),
    ) as Record<string, unknown>;
    expect(reason).toMatchObject({
      gateway: gw.id,
      name: f!.name,
      code: 'HRV_ERR_SEQUENCE_REPLAY',
      reason: 'sequence number already seen',
    });
    await until('the refusal acknowledged', async () =>
      (await stored(h.results.stream)) === 0 ? true : undefined,
    );
  });

  it('holds a refusal that overtakes its input (still in the inbox) until the input is filed, then quarantines it', async () => {
    const h = await host();
    const [f] = batches(1);
    writeFileSync(join(area(h, 'inbox'), f!.name), f!.bytes);
    await publishRefusal(nats.js, h.results, {
      gateway: gw.id,
      file: f!.name,
      code: 'HRV_ERR_ENVELOPE_SIGNATURE',
      reason: 'not signed by the gateway',
      token: 2,
    });
    // Delivered, put back (nak) and delivered again: the host waits for the input to reach the store.
    await until('the refusal delivered twice', async () =>
      (await nats.jsm.consumers.info(h.results.stream, h.results.durable)).delivered.consumer_seq >= 2
        ? true
        : undefined,
    );
    expect(h.cloud.stats().rejected_files).toEqual([]);
    expect(ls(area(h, 'inbox'))).toEqual([f!.name]);
    expect(await stored(h.results.stream)).toBe(1);
    await h.cloud.flush();
    await until('the refusal recorded', () => h.cloud.stats().rejected_files.find((r) => r.name === f!.name));
    expect(ls(join(h.dir, 'store', gw.id))).toEqual([]);
    expect(ls(join(h.dir, 'quarantine', gw.id)).filter((x) => x.endsWith(`-${f!.name}`))).toHaveLength(1);
    await until('the refusal acknowledged', async () =>
      (await stored(h.results.stream)) === 0 ? true : undefined,
    );
  });

  it('answers an attestation request through a worker on NATS, and relays no quote when the worker refuses', async () => {
    const h = await host();
    const refused = randomBytes(32);
    const sub = nats.nc.subscribe(subjects(h.work.prefix).attest, {
      callback: (err, msg) => {
        if (err) return;
        const nonce = new Uint8Array(msg.data);
        if (Buffer.from(nonce).equals(refused)) {
          msg.respond(JSON.stringify({ error: { code: 'HRV_ERR_ENCLAVE', message: 'no keys yet' } }));
          return;
        }
        const quote = createQuote(platform.privateKey, {
          measurement: MEASUREMENT,
          enclavePublicKey: enclaveKeys.publicKey,
          enclaveSigningKey: enclaveSigning.publicKey,
          nonce,
        });
        msg.respond(JSON.stringify(quote));
      },
    });
    try {
      const nonce = randomBytes(32);
      await upload(h.cloud, [{ name: `attest-${nonce.toString('hex')}.req`, bytes: new Uint8Array(0) }]);
      const quoteFile = join(area(h, 'outbox'), `attest-${nonce.toString('hex')}.quote`);
      const quote = await until('the quote in the outbox', () =>
        ls(area(h, 'outbox')).includes(`attest-${nonce.toString('hex')}.quote`)
          ? (JSON.parse(readFileSync(quoteFile, 'utf8')) as unknown)
          : undefined,
      );
      const v = verifyQuoteDetails(quote, {
        platformPublicKey: platform.publicKey,
        allowedMeasurements: [MEASUREMENT],
        nonce,
        allowSoftwareQuotes: true,
      });
      expect(Buffer.from(v.enclavePublicKey).equals(Buffer.from(enclaveKeys.publicKey))).toBe(true);
      expect(h.cloud.stats().quotes_served).toBe(1);

      // Placed in the inbox (not through SFTP): the next tick's listing serves it.
      writeFileSync(join(area(h, 'inbox'), `attest-${refused.toString('hex')}.req`), '');
      await h.cloud.flush();
      await until('the refused request removed', () =>
        ls(area(h, 'inbox')).length === 0 ? true : undefined,
      );
      await until('the failure logged', () => h.logs.find((l) => l.msg === 'quote failed'));
      expect(ls(area(h, 'outbox')).filter((x) => x.startsWith(`attest-${refused.toString('hex')}`))).toEqual(
        [],
      );
      expect(h.cloud.stats().quotes_served).toBe(1);
    } finally {
      sub.unsubscribe();
    }
  });

  it('refuses a bad combination of options before it starts anything', async () => {
    const base = {
      dataDir: join(root, 'bad'),
      gateways: [{ id: gw.id, sshPublicKey: ssh.public }],
      batchIntervalMs: 1000,
    };
    const jsOpt = { nc: nats.nc, work: { prefix: `${RUN}-bad`, partitions: 4, replicas: 1 } };
    await expect(startCloud({ ...base, mode: 'plain', jetstream: jsOpt })).rejects.toThrow(ConfigError);
    await expect(
      startCloud({
        ...base,
        mode: 'secure',
        jetstream: { ...jsOpt, work: { ...jsOpt.work, partitions: 0 } },
      }),
    ).rejects.toThrow(/partitions/);
    await expect(
      startCloud({ ...base, mode: 'secure', jetstream: { ...jsOpt, attestTimeoutMs: -1 } }),
    ).rejects.toThrow(/attestTimeoutMs/);
    await expect(startCloud({ ...base, mode: 'secure', reorderHoldMs: 0, jetstream: jsOpt })).rejects.toThrow(
      ConfigError,
    );
    await expect(startCloud({ ...base, mode: 'secure' })).rejects.toThrow(ConfigError);
  });
});
