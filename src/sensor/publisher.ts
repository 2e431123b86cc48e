/**
 * The beat publisher: one MQTT connection per device (its own credentials), each beat published QoS 1 as a
 * version-1 message on the device's topic, paced by simulated time (`speed` simulated seconds per real
 * second). A beat counts as published only when the broker has acknowledged it (PUBACK).
 */
import { createHmac } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { HrvaultError } from '../errors.js';
import { beatTopic, deviceOfPatient, type BeatMessage } from './message.js';
import { SyntheticPatient, type PatientParams, type SyntheticBeat } from './synthetic.js';
import type { BeatSource } from './replay.js';

/** A device's MQTT password derived from a shared demo secret (real deployments provision one per device). */
export function devicePassword(secret: string, device: string): string {
  return createHmac('sha256', secret).update(`device:${device}`).digest('hex').slice(0, 32);
}

export interface SensorFleetOptions {
  url: string;
  /** PEM CA the broker's certificate must chain to (mqtts:// URLs); undefined = the system's CAs. */
  ca?: string;
  topicPrefix: string;
  patients: PatientParams[];
  /** Further patients replayed from recordings (they stop when their record ends). */
  replays?: BeatSource[];
  /** Simulated seconds per real second. */
  speed: number;
  /** Simulated seconds to publish; null = until stop(). */
  durationS: number | null;
  /** Password of a device. */
  password(device: string): string;
  /** Unacknowledged publishes allowed per device. */
  maxInflight: number;
  /** Epoch ms of simulated time zero (default: now). */
  startMs?: number;
  /**
   * Boot epoch sent with every beat (default: the real time this fleet started, ms): grows whenever the devices
   * restart their sequence numbers from 1, so the gateway tells a restart from a redelivery.
   */
  epoch?: number;
  /**
   * Fault injection (the fault suite's clock-step scenario): each listed beat carries its time shifted by
   * `deltaMs`, as from a device clock that stepped for that one beat; the beats around it keep their true times.
   */
  clockSteps?: ClockStep[];
  /**
   * Called after each PUBACK with the acknowledged beat (the fault suite's ack log: which beats the broker
   * acknowledged to a sensor process that is later SIGKILLed).
   */
  onAck?: (ack: BeatAck) => void;
  /**
   * After a reconnect each device publishes again the beats the broker acknowledged in this many ms before the
   * connection dropped (default 5,000; 0 = never): Mosquitto sends its PUBACK before it writes the message to its
   * store, so a broker crash in that instant loses acknowledged beats. The gateway drops the repeats it already has
   * by (device, epoch, seq).
   */
  resendWindowMs?: number;
  logger?: Logger;
}

/** Default of `resendWindowMs`: far longer than Mosquitto's write of its store after a PUBACK, a few dozen beats per device. */
export const DEFAULT_RESEND_WINDOW_MS = 5_000;

/** One injected clock step: beat `seq` of `patient` is sent with `t_ms` + `deltaMs` (ms; negative steps back). */
export interface ClockStep {
  patient: string;
  seq: number;
  deltaMs: number;
}

/** A beat the broker acknowledged: its device, boot epoch, sequence number and the time it carried (ms since the epoch). */
export interface BeatAck {
  device: string;
  epoch: number;
  seq: number;
  tMs: number;
}

export interface SensorFleetStats {
  /** Beats acknowledged by the broker. */
  published: number;
  /** Beats handed to the client and not yet acknowledged. */
  inflight: number;
  /** Simulated seconds elapsed. */
  simulatedS: number;
  /** Beats acknowledged per patient. */
  perPatient: Record<string, number>;
  /** Acknowledged beats published again after reconnects (see resendWindowMs). */
  resent: number;
}

export interface SensorFleet {
  stats(): SensorFleetStats;
  /** Resolves when every beat of the configured duration is acknowledged. */
  readonly done: Promise<void>;
  /** Stops publishing, waits for the acknowledgements of what was sent, disconnects. */
  stop(): Promise<void>;
}

interface Device {
  device: string;
  gen: BeatSource;
  client: MqttClient;
  next: SyntheticBeat | null;
  inflight: number;
  published: number;
  pending: Set<Promise<void>>;
  /** Acknowledged beats of the last resend window, oldest first: [ack time (performance.now() ms), topic, payload]. */
  recent: [number, string, string][];
  /** Beats published again after a reconnect. */
  resent: number;
}

const TICK_MS = 20;

/** Connects one client per patient's device and starts publishing. */
export async function startSensorFleet(opts: SensorFleetOptions): Promise<SensorFleet> {
  const startMs = opts.startMs ?? Date.now();
  const epoch = opts.epoch ?? Date.now();
  const sources: BeatSource[] = [
    ...opts.patients.map((p) => {
      const gen = new SyntheticPatient(p);
      return { patient: p.patient, next: () => gen.next() };
    }),
    ...(opts.replays ?? []),
  ];
  const devices: Device[] = await Promise.all(
    sources.map(async (gen) => {
      const device = deviceOfPatient(gen.patient);
      const client = await mqtt.connectAsync(opts.url, {
        clientId: device,
        username: device,
        password: opts.password(device),
        ...(opts.ca === undefined ? {} : { ca: opts.ca }),
        clean: true,
        reconnectPeriod: 500,
        connectTimeout: 10_000,
      });
      client.on('error', (err) => opts.logger?.warn({ device, err: err.message }, 'sensor MQTT error'));
      return {
        device,
        gen,
        client,
        next: gen.next(),
        inflight: 0,
        published: 0,
        pending: new Set<Promise<void>>(),
        recent: [],
        resent: 0,
      };
    }),
  );
  const resendWindowMs = opts.resendWindowMs ?? DEFAULT_RESEND_WINDOW_MS;
  if (!(resendWindowMs >= 0)) throw new HrvaultError('HRV_ERR_CONFIG', `resendWindowMs must be a non-negative number of ms, got ${resendWindowMs}`);
  for (const d of devices) {
    // When the last good connection dropped ('close' also follows every failed reconnect attempt).
    let droppedAt = performance.now();
    let connected = true;
    d.client.on('close', () => {
      if (connected) droppedAt = performance.now();
      connected = false;
    });
    // Every 'connect' after the first is a reconnect (connectAsync resolved on the first).
    d.client.on('connect', () => {
      connected = true;
      const from = droppedAt - resendWindowMs;
      const again = d.recent.filter(([at]) => at >= from);
      for (const [, topic, payload] of again)
        d.client.publishAsync(topic, payload, { qos: 1 }).catch((err: unknown) =>
          opts.logger?.warn({ device: d.device, err: err instanceof Error ? err.message : String(err) }, 'beat published again after a reconnect not acknowledged'),
        );
      d.resent += again.length;
      if (again.length > 0) opts.logger?.info({ device: d.device, beats: again.length }, 'reconnected: published the last acknowledged beats again');
    });
  }
  const realStart = performance.now();
  const durationMs = opts.durationS === null ? Infinity : opts.durationS * 1000;
  let stopped = false;
  let finishedPublishing = false;
  const simulatedMs = (): number => Math.min(durationMs, (performance.now() - realStart) * opts.speed);

  const steps = new Map((opts.clockSteps ?? []).map((c) => [`${c.patient}#${c.seq}`, c.deltaMs]));
  const publishOne = (d: Device, b: SyntheticBeat): void => {
    const tMs = startMs + b.tMs + (steps.get(`${d.gen.patient}#${b.seq}`) ?? 0);
    const msg: BeatMessage = {
      v: 1,
      patient: d.gen.patient,
      seq: b.seq,
      t_ms: tMs,
      rr_ms: b.rrMs,
      epoch,
    };
    d.inflight++;
    const topic = beatTopic(opts.topicPrefix, d.device);
    const payload = JSON.stringify(msg);
    const p = d.client
      .publishAsync(topic, payload, { qos: 1 })
      .then(
        () => {
          d.published++;
          opts.onAck?.({ device: d.device, epoch, seq: b.seq, tMs });
          if (resendWindowMs > 0) {
            const now = performance.now();
            d.recent.push([now, topic, payload]);
            while (d.recent.length > 0 && d.recent[0]![0] < now - resendWindowMs) d.recent.shift();
          }
        },
        (err: unknown) => {
          // mqtt.js keeps QoS 1 packets in its outgoing store across reconnects; a rejection here means the
          // client was ended, so the beat was not acknowledged and is not counted.
          opts.logger?.warn(
            { device: d.device, seq: b.seq, err: err instanceof Error ? err.message : String(err) },
            'beat not acknowledged',
          );
        },
      )
      .finally(() => {
        d.inflight--;
        d.pending.delete(p);
      });
    d.pending.add(p);
    d.next = d.gen.next();
  };

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const timer = setInterval(() => {
    if (stopped) return;
    const now = simulatedMs();
    let remaining = false;
    for (const d of devices) {
      while (d.next !== null && d.next.tMs <= now && d.inflight < opts.maxInflight) publishOne(d, d.next);
      if (d.next !== null && d.next.tMs <= durationMs) remaining = true;
    }
    if (!remaining && !finishedPublishing) {
      finishedPublishing = true;
      clearInterval(timer);
      void Promise.all(devices.flatMap((d) => [...d.pending])).then(() => resolveDone());
    }
  }, TICK_MS);

  return {
    stats() {
      const perPatient: Record<string, number> = {};
      for (const d of devices) perPatient[d.gen.patient] = d.published;
      return {
        published: devices.reduce((s, d) => s + d.published, 0),
        resent: devices.reduce((s, d) => s + d.resent, 0),
        inflight: devices.reduce((s, d) => s + d.inflight, 0),
        simulatedS: simulatedMs() / 1000,
        perPatient,
      };
    },
    done,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(devices.flatMap((d) => [...d.pending]));
      await Promise.all(devices.map((d) => d.client.endAsync()));
    },
  };
}
