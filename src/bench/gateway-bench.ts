/**
 * Gateway intake benchmark: beats per second that one gateway process makes durable (in its spool, fdatasync'd)
 * and acknowledges, through a real MQTT broker — Mosquitto on 127.0.0.1:1883 when it answers (a separate
 * process, as deployed), and the in-process aedes broker the demo uses. The publishers keep at most `window`
 * beats published but not yet accepted by the gateway, below Mosquitto's default `max_queued_messages` (1,000),
 * so the broker never drops one and the figure is the gateway's, not the broker's queue.
 */
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

async function runOne(
  broker: 'mosquitto 127.0.0.1:1883' | 'in-process aedes',
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
  const url = embedded?.url ?? 'mqtt://127.0.0.1:1883';
  const dir = mkdtempSync(join(tmpdir(), 'hrv-gwbench-'));
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
        clientId: `${deviceOfPatient(p)}-bench-${process.pid}`,
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
      setTimeout(pump, 5);
    };
    pump();
  });
  const seconds = (performance.now() - t0) / 1000;
  const st = gw.stats();
  const accepted = st.accepted - accepted0;
  await Promise.all(clients.map((c) => c.endAsync()));
  await gw.stop();
  // Leave no persistent session behind on a shared broker.
  if (!embedded) {
    const c = await mqtt.connectAsync(url, { clientId, clean: true, username: 'gw-bench', password: 'gwpass' });
    await c.endAsync();
  }
  await embedded?.close();
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
  };
}

/** Runs the gateway intake benchmark on each available broker; rates in beats/s. */
export async function runGatewayBench(opts: GatewayBenchOptions = {}): Promise<{ rows: GatewayBenchRow[]; skipped: string[] }> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const o = {
    beats: opts.beats ?? 30_000,
    maxSeconds: opts.maxSeconds ?? 20,
    devices: opts.devices ?? 20,
    window: opts.window ?? 800,
    batchIntervalMs: opts.batchIntervalMs ?? 1000,
  };
  const rows: GatewayBenchRow[] = [];
  const skipped: string[] = [];
  if (await portOpen(1883)) {
    log('gateway intake via Mosquitto on 127.0.0.1:1883…');
    rows.push(await runOne('mosquitto 127.0.0.1:1883', o));
  } else {
    skipped.push('mosquitto 127.0.0.1:1883: nothing listens there');
    log('skipped Mosquitto: nothing listens on 127.0.0.1:1883');
  }
  log('gateway intake via the in-process broker…');
  rows.push(await runOne('in-process aedes', o));
  return { rows, skipped };
}

/** Formats the rows as a table. */
export function formatGatewayBench(r: { rows: GatewayBenchRow[]; skipped: string[] }): string {
  const head = ['broker', 'devices', 'window', 'beats', 's', 'beats/s', 'fdatasync/1000 beats', 'cuts'];
  const lines = r.rows.map((x) => [
    x.broker,
    String(x.devices),
    String(x.window),
    String(x.beats_accepted),
    x.seconds.toFixed(2),
    String(x.beats_per_s),
    x.syncs_per_1000 === null ? 'n/a' : String(x.syncs_per_1000),
    String(x.cuts),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [
    'gateway durable intake (accepted = appended to the spool and fdatasync\'d, then PUBACKed)',
    fmt(head),
    ...lines.map(fmt),
    ...r.skipped.map((s) => `skipped: ${s}`),
  ].join('\n');
}
