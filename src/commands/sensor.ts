/**
 * `hrvault sensor`: synthetic patients publishing their beats to an MQTT broker, for a real deployment.
 * Config: defaults → `--config FILE` → HRVAULT_MQTT_* / HRVAULT_SENSOR_* → flags (see src/config.ts).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig, type ConfigOverrides } from '../config.js';
import { ConfigError } from '../errors.js';
import { deviceOfPatient, devicePassword, startSensorFleet, syntheticPatients, readMqttCa, type BeatAck } from '../sensor/index.js';

/** Parses a number flag; the config loader validates its range. */
export function num(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || Number.isNaN(n)) throw new ConfigError(`not a number: "${v}"`);
  return n;
}

/** Resolves when SIGINT or SIGTERM arrives. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * The ack log (fault testing): one "device epoch seq" line appended per PUBACK, written with its own write(2) so
 * that a SIGKILL loses none already written. A beat acknowledged by the broker in the instant before the kill,
 * its line not yet written, is one this process never knew acknowledged: it may be analysed or not (once at most).
 */
function openAckLog(file: string): { onAck: (a: BeatAck) => void; close: () => void } {
  const fd = openSync(file, 'a');
  return {
    onAck: (a) => {
      writeSync(fd, `${a.device} ${a.epoch} ${a.seq}\n`);
    },
    close: () => closeSync(fd),
  };
}

export function registerSensorCommand(program: Command): void {
  program
    .command('sensor')
    .description('run synthetic patients and publish each beat over MQTT (QoS 1, one device per patient)')
    .option('--config <file>', 'JSON config file')
    .option('--mqtt-url <url>', 'broker URL (HRVAULT_MQTT_URL)')
    .option('--topic-prefix <prefix>', 'topic prefix (HRVAULT_MQTT_TOPIC_PREFIX)')
    .option('--mqtt-ca-file <file>', 'PEM CA of the broker certificate, for mqtts:// (HRVAULT_MQTT_CA_FILE)')
    .option('--patients <n>', 'number of patients (HRVAULT_SENSOR_PATIENTS)', num)
    .option('--first-patient <n>', 'number of the first patient, P0001 = 1', num)
    .option('--speed <x>', 'simulated seconds per real second', num)
    .option('--duration <s>', 'simulated seconds to run (default: until Ctrl-C)', num)
    .option('--seed <n>', 'random seed of the patients', num)
    .option('--password <p>', "the device's password (single patient; HRVAULT_SENSOR_PASSWORD)")
    .option(
      '--device-secret <s>',
      'derive each device password from this secret (demo; HRVAULT_SENSOR_DEVICE_SECRET)',
    )
    .option('--start-ms <ms>', 'simulated time zero, ms since the epoch (default: now; fault testing, for known beat times)', num)
    .option('--epoch <n>', 'boot epoch sent with every beat (default: the start time in ms; fault testing)', num)
    .option('--ack-log <file>', 'append "device epoch seq" to this file after each PUBACK (fault testing: which beats were acknowledged)')
    .action(async (o: Record<string, string | number | undefined>) => {
      const flags: ConfigOverrides = {
        mqtt: { url: o.mqttUrl as string | undefined, topicPrefix: o.topicPrefix as string | undefined, caFile: o.mqttCaFile as string | undefined },
        sensor: {
          patients: o.patients as number | undefined,
          firstPatient: o.firstPatient as number | undefined,
          speed: o.speed as number | undefined,
          durationS: o.duration as number | undefined,
          seed: o.seed as number | undefined,
          password: o.password as string | undefined,
          deviceSecret: o.deviceSecret as string | undefined,
        },
      };
      const cfg = loadConfig({ ...(o.config === undefined ? {} : { file: String(o.config) }), flags });
      const s = cfg.sensor;
      if (s.password === '' && s.deviceSecret === '')
        throw new ConfigError('sensor needs --password (one device) or --device-secret');
      if (s.password !== '' && s.patients !== 1)
        throw new ConfigError("--password is one device's password: use it with --patients 1");
      const logger = pino({ level: 'info' }, pino.destination(2));
      const patients = syntheticPatients(s.patients, s.seed, s.firstPatient);
      if (o.epoch !== undefined && !(Number.isSafeInteger(o.epoch) && Number(o.epoch) >= 0))
        throw new ConfigError(`--epoch must be a whole number ≥ 0 (got ${o.epoch})`);
      const ackLog = o.ackLog === undefined ? undefined : openAckLog(String(o.ackLog));
      const fleet = await startSensorFleet({
        url: cfg.mqtt.url,
        topicPrefix: cfg.mqtt.topicPrefix,
        patients,
        speed: s.speed,
        durationS: s.durationS,
        password: (d) => (s.password !== '' ? s.password : devicePassword(s.deviceSecret, d)),
        maxInflight: cfg.mqtt.maxInflight,
        ...(cfg.mqtt.caFile === '' ? {} : { ca: readMqttCa(cfg.mqtt.caFile)! }),
        ...(o.startMs === undefined ? {} : { startMs: Number(o.startMs) }),
        ...(o.epoch === undefined ? {} : { epoch: Number(o.epoch) }),
        ...(ackLog === undefined ? {} : { onAck: ackLog.onAck }),
        logger,
      });
      logger.info({ devices: patients.map((p) => deviceOfPatient(p.patient)) }, 'sensors publishing');
      await Promise.race([fleet.done, untilSignal()]);
      await fleet.stop();
      ackLog?.close();
      process.stdout.write(
        `${JSON.stringify({ beats_published: fleet.stats().published, per_patient: fleet.stats().perPatient })}\n`,
      );
    });
}
