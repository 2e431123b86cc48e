/**
 * Gateway intake benchmark: beats per second that one gateway process makes durable (in its spool, fdatasync'd)
 * and acknowledges, through a real MQTT broker:
 *  - a private Mosquitto the bench starts (separate process, as deployed) with limits that let a backlog through
 *    (`max_inflight_messages 1000`, `max_queued_messages 100000`);
 *  - the shared Mosquitto on 127.0.0.1:1883 with its stock limits (20 in flight, 1,000 queued): there the window
 *    must stay small, because beyond ~500 waiting beats it drops some (they show as the gateway's `gaps`);
 *  - the in-process aedes broker the demo uses.
 * The publishers keep at most `window` beats published but not yet accepted by the gateway, so the figure is the
 * gateway's intake, and every row also reports the gateway's sequence-gap count (0 = nothing dropped on the way).
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startEmbeddedBroker, startGateway, ensureGatewayKeys } from '../gateway/index.js';
import { beatTopic, deviceOfPatient, devicePassword } from '../sensor/index.js';
import { portOpen } from '../test-support/processes.js';

export interface GatewayBenchRow {
  broker: string;
  devices: number;
  window: number;
  beats_accepted: number;
  seconds: number;
  beats_per_s: number;
  /** fdatasyncs the spool issued per 1,000 accepted beats (group commit makes this small). */
  syncs_per_1000: number | null;
  cuts: number;
  /** Beats the gateway never received (its sequence-gap count): non-zero means the broker dropped some. */
  seq_gaps: number;
  duplicates: number;
  quarantined: number;
}

export interface GatewayBenchOptions {
  /** Beats to push through (the run also stops after `maxSeconds`). */
  beats?: number;
  maxSeconds?: number;
  devices?: number;
  /** Beats published but not yet accepted, at most. */
  window?: number;
  batchIntervalMs?: number;
  log?: (line: string) => void;
}

const SECRET = 'bench-secret';

/**
 * Today's figure, before group commit: this suite run on the code of commit 2a4fcf6 (one fdatasync per beat), on
 * this machine at 05:07 UTC 2026-12-02 (load average ~14 on 2 cores), same devices and windows.
 */
export const BEFORE_GROUP_COMMIT = {
  command: 'npm run bench -- --suite gateway (code of commit 2a4fcf6)',
  'private mosquitto (tuned)': 377,
  'mosquitto 127.0.0.1:1883': 445,
  'in-process aedes': 226,
  fdatasync_per_1000_beats: 1000,
};

type BrokerKind = 'private mosquitto (tuned)' | 'mosquitto 127.0.0.1:1883' | 'in-process aedes';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p));

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Starts a Mosquitto of our own on a free port; resolves once it accepts connections. */
async function startPrivateMosquitto(bin: string, dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'max_inflight_messages 1000', 'max_queued_messages 100000', 'persistence false', ''].join('\n'),
  );
  const child = spawn(bin, ['-c', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < 200 && !(await portOpen(port, '127.0.0.1', 200)); i++) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function runOne(
  broker: BrokerKind,
  o: Required<Omit<GatewayBenchOptions, 'log'>>,
): Promise<GatewayBenchRow> {
  // A prefix and client id of our own: other gateways on a shared Mosquitto must not see the bench's beats.
  const prefix = `hrvault-bench-${process.pid}-${Date.now()}/v1`;
  const patients = Array.from({ length: o.devices }, (_, i) => `B${String(i + 1).padStart(4, '0')}`);
  const embedded =
    broker === 'in-process aedes'
      ? await startEmbeddedBroker({
          credentials: (u) => (u === 'gw-bench' ? 'gwpass' : u.startsWith('dev-') ? devicePassword(SECRET, u) : undefined),
          gatewayUsernames: ['gw-bench'],
          topicPrefix: prefix,
        })
      : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'hrv-gwbench-'));
  const own = broker === 'private mosquitto (tuned)' ? await startPrivateMosquitto(MOSQUITTO!, dir) : undefined;
  const url = embedded?.url ?? own?.url ?? 'mqtt://127.0.0.1:1883';
  const keys = ensureGatewayKeys(join(dir, 'keys'));
  const clientId = `hrvault-gateway-bench-${process.pid}`;
  const gw = await startGateway({
    id: 'gw-bench',
    dataDir: join(dir, 'gw'),
    mqtt: { url, topicPrefix: prefix, username: 'gw-bench', password: 'gwpass', clientId },
    devices: Object.fromEntries(patients.map((p) => [deviceOfPatient(p), p])),
    batchIntervalMs: o.batchIntervalMs,
    mode: 'plain',
    // Nothing listens: batches stay pending; the bench measures intake and cuts, not uploads.
    sftp: { host: '127.0.0.1', port: 1, privateKey: keys.sshPrivateKey },
    keys,
    bucketBytes: [1024],
    retryMaxMs: 60_000,
    logger: pino({ level: 'silent' }),
  });
  const clients: MqttClient[] = await Promise.all(
    patients.map((p) =>
      mqtt.connectAsync(url, {
        clientId: `${deviceOfPatient(p)}:bench-${process.pid}`,
        username: deviceOfPatient(p),
        password: devicePassword(SECRET, deviceOfPatient(p)),
        clean: true,
      }),
    ),
  );
  const seq = patients.map(() => 0);
  let sent = 0;
  let acked = 0;
  const t0 = performance.now();
  const deadline = t0 + o.maxSeconds * 1000;
  const accepted0 = gw.stats().accepted;
  const syncs0 = gw.stats().spool_syncs;
  await new Promise<void>((resolve, reject) => {
    let i = 0;
    const pump = (): void => {
      const accepted = gw.stats().accepted - accepted0;
      if (accepted >= o.beats || performance.now() > deadline) {
        resolve();
        return;
      }
      // Publish up to the window; the broker's PUBACK to the publisher is not the gateway's durability.
      while (sent < o.beats && sent - accepted < o.window) {
        const d = i++ % patients.length;
        const s = ++seq[d]!;
        const msg = { v: 1, patient: patients[d]!, seq: s, t_ms: 1_700_000_000_000 + s * 800, rr_ms: 800 };
        sent++;
        clients[d]!.publishAsync(beatTopic(prefix, deviceOfPatient(patients[d]!)), JSON.stringify(msg), { qos: 1 }).then(
          () => void acked++,
          reject,
        );
      }
      setTimeout(pump, 10);
    };
    pump();
  });
  const seconds = (performance.now() - t0) / 1000;
  const st = gw.stats();
  const accepted = st.accepted - accepted0;
  await Promise.all(clients.map((c) => c.endAsync()));
  await gw.stop();
  // Leave no persistent session behind on the shared broker.
  if (broker === 'mosquitto 127.0.0.1:1883') {
    const c = await mqtt.connectAsync(url, { clientId, clean: true, username: 'gw-bench', password: 'gwpass' });
    await c.endAsync();
  }
  await embedded?.close();
  await own?.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    broker,
    devices: o.devices,
    window: o.window,
    beats_accepted: accepted,
    seconds: Math.round(seconds * 100) / 100,
    beats_per_s: Math.round(accepted / seconds),
    syncs_per_1000: st.spool_syncs === undefined || syncs0 === undefined ? null : Math.round(((st.spool_syncs - syncs0) / Math.max(1, accepted)) * 1000 * 10) / 10,
    cuts: st.files_cut,
    seq_gaps: st.seq_gaps,
    duplicates: st.duplicates,
    quarantined: st.quarantined,
  };
}

/** Runs the gateway intake benchmark on each available broker; rates in beats/s. */
export async function runGatewayBench(
  opts: GatewayBenchOptions = {},
): Promise<{ rows: GatewayBenchRow[]; skipped: string[]; before: typeof BEFORE_GROUP_COMMIT }> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const base = {
    beats: opts.beats ?? 60_000,
    maxSeconds: opts.maxSeconds ?? 20,
    devices: opts.devices ?? 20,
    batchIntervalMs: opts.batchIntervalMs ?? 1000,
  };
  const rows: GatewayBenchRow[] = [];
  const skipped: string[] = [];
  if (MOSQUITTO) {
    log('gateway intake via a private Mosquitto…');
    rows.push(await runOne('private mosquitto (tuned)', { ...base, window: opts.window ?? 2000 }));
  } else skipped.push('private mosquitto: no mosquitto binary found');
  if (await portOpen(1883)) {
    log('gateway intake via Mosquitto on 127.0.0.1:1883…');
    rows.push(await runOne('mosquitto 127.0.0.1:1883', { ...base, window: Math.min(opts.window ?? 400, 400) }));
  } else skipped.push('mosquitto 127.0.0.1:1883: nothing listens there');
  log('gateway intake via the in-process broker…');
  rows.push(await runOne('in-process aedes', { ...base, window: opts.window ?? 2000 }));
  for (const s of skipped) log(`skipped ${s}`);
  return { rows, skipped, before: BEFORE_GROUP_COMMIT };
}

/** Formats the rows as a table. */
export function formatGatewayBench(r: { rows: GatewayBenchRow[]; skipped: string[] }): string {
  const before = BEFORE_GROUP_COMMIT as Record<string, unknown>;
  const head = ['broker', 'devices', 'window', 'beats', 's', 'beats/s', 'before (beats/s)', 'fdatasync/1000 beats', 'cuts', 'gaps', 'dup', 'quar'];
  const lines = r.rows.map((x) => [
    x.broker,
    String(x.devices),
    String(x.window),
    String(x.beats_accepted),
    x.seconds.toFixed(2),
    String(x.beats_per_s),
    typeof before[x.broker] === 'number' ? String(before[x.broker] as number) : '—',
    x.syncs_per_1000 === null ? 'n/a' : String(x.syncs_per_1000),
    String(x.cuts),
    String(x.seq_gaps),
    String(x.duplicates),
    String(x.quarantined),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [
    'gateway durable intake (accepted = appended to the spool and fdatasync\'d, then PUBACKed)',
    fmt(head),
    ...lines.map(fmt),
    ...r.skipped.map((s) => `skipped: ${s}`),
    `before = one fdatasync per beat (${BEFORE_GROUP_COMMIT.fdatasync_per_1000_beats} per 1000), ${BEFORE_GROUP_COMMIT.command}`,
  ].join('\n');
}
