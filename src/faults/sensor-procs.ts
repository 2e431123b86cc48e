/**
 * The sensors as separate OS processes (`hrvault sensor`) for the sensor-kill scenario: groups of devices, each
 * group one process the test can SIGKILL and start again. Every incarnation is a new boot epoch (its devices
 * number from 1 again) with its own simulated time zero after everything the killed one could have sent, and its
 * own ack log (`--ack-log`), so the checker knows exactly which beats the broker acknowledged to each.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PatientParams, type SensorFleet, type SensorFleetStats } from '../sensor/index.js';
import { spawnCli, type CliProcess } from '../test-support/processes.js';
import { epochBeats, epochSeq, expectedBeats, mergeBeats, type SensorBeat } from './checker.js';
import { DEVICE_SECRET, sigkill, sigterm, type FaultStack } from './stack.js';

/** One process's life: its group, epoch index (0 = first boot), time zero (ms since the epoch) and ack log. */
interface Incarnation {
  group: number;
  index: number;
  startMs: number;
  spawnedAt: number;
  /** Real ms it ran (set when it ended): bounds the simulated time it reached. */
  ranMs: number | undefined;
  ackLog: string;
  proc: CliProcess;
}

export interface SensorProcs {
  /** Starts every group's first incarnation and waits until each publishes. */
  start(): Promise<void>;
  /** SIGKILLs group `g`'s process and starts its next incarnation (a new boot epoch). */
  killAndRestart(g: number): Promise<void>;
  /** SIGTERMs every live process (each waits for its PUBACKs and ends); idempotent. */
  stop(): Promise<void>;
  /** Per patient, the acknowledged beats of every incarnation (numbered as epochBeats does). */
  acked(): Map<string, Set<number>>;
  /** Per patient, every beat any incarnation could have sent (numbered as epochBeats does). */
  expected(): Map<string, SensorBeat[]>;
  /** The processes as a SensorFleet for drainAndCheck (stats from the ack logs). */
  fleet(): SensorFleet;
  incarnations(): number;
  groups: number;
}

/**
 * `groups` processes share the stack's patients (in order, as evenly as possible), at `speed`. `mqttUrl` and
 * `topicPrefix` as the stack's; `seed` the patients' seed.
 */
export function sensorProcs(stack: FaultStack, o: { groups: number; speed: number; seed: number; mqttUrl: string; topicPrefix: string; startMs: number }): SensorProcs {
  const n = stack.patients.length;
  const groupPatients: PatientParams[][] = Array.from({ length: o.groups }, (_, g) => stack.patients.slice(Math.floor((g * n) / o.groups), Math.floor(((g + 1) * n) / o.groups)));
  const all: Incarnation[] = [];
  const live: (Incarnation | undefined)[] = new Array<Incarnation | undefined>(o.groups).fill(undefined);
  const simulatedMs = (inc: Incarnation): number => Math.ceil(((inc.ranMs ?? Date.now() - inc.spawnedAt) + 1000) * o.speed);

  const spawn = async (group: number): Promise<void> => {
    const prev = all.filter((i) => i.group === group).pop();
    const index = prev === undefined ? 0 : prev.index + 1;
    // After everything the previous incarnation could have sent (its clock goes on across the reboot), whole seconds.
    const startMs = prev === undefined ? o.startMs : Math.ceil((prev.startMs + simulatedMs(prev) + 5000) / 1000) * 1000;
    const ackLog = join(stack.dir, `acks-g${group}-e${index}.log`);
    const first = groupPatients[group]![0]!.patient;
    const proc = spawnCli([
      'sensor',
      '--mqtt-url', o.mqttUrl,
      '--topic-prefix', o.topicPrefix,
      '--patients', String(groupPatients[group]!.length),
      '--first-patient', String(Number(first.slice(1))),
      '--seed', String(o.seed),
      '--speed', String(o.speed),
      '--device-secret', DEVICE_SECRET,
      '--start-ms', String(startMs),
      // Wire epoch 1, 2, … (0 means "no epoch" to the gateway).
      '--epoch', String(index + 1),
      '--ack-log', ackLog,
    ]);
    const inc: Incarnation = { group, index, startMs, spawnedAt: Date.now(), ranMs: undefined, ackLog, proc };
    all.push(inc);
    live[group] = inc;
    stack.runs.push({ name: `sensor-g${group}`, proc });
    await proc.waitFor(/sensors publishing/, { timeoutMs: 90_000 });
  };

  /** Acknowledged (patient, epoch index, seq) of one incarnation, from its ack log ("device epoch seq" lines). */
  const ackedOf = (inc: Incarnation): [string, number][] => {
    let text: string;
    try {
      text = readFileSync(inc.ackLog, 'utf8');
    } catch {
      return [];
    }
    const out: [string, number][] = [];
    const lines = text.split('\n');
    // The last piece has no newline yet: a line cut by the SIGKILL mid-write is not an acknowledgement recorded.
    for (const line of lines.slice(0, -1)) {
      const m = /^dev-(\S+) (\d+) (\d+)$/.exec(line);
      if (!m || Number(m[2]) !== inc.index + 1) throw new Error(`ack log ${inc.ackLog}: unexpected line "${line}" (want "dev-<patient> ${inc.index + 1} <seq>")`);
      out.push([m[1]!, epochSeq(inc.index, Number(m[3]))]);
    }
    return out;
  };

  const end = async (inc: Incarnation, how: 'kill' | 'term'): Promise<void> => {
    if (how === 'kill') await sigkill(inc.proc);
    else await sigterm(inc.proc, 60_000);
    inc.ranMs ??= Date.now() - inc.spawnedAt;
  };

  let stopped: Promise<void> | undefined;
  const procs: SensorProcs = {
    groups: o.groups,
    async start() {
      await Promise.all(groupPatients.map((_, g) => spawn(g)));
    },
    async killAndRestart(g) {
      const inc = live[g];
      if (inc !== undefined) await end(inc, 'kill');
      await spawn(g);
    },
    stop() {
      stopped ??= Promise.all(live.filter((i) => i !== undefined).map((i) => end(i, 'term'))).then(() => undefined);
      return stopped;
    },
    acked() {
      const out = new Map<string, Set<number>>();
      for (const inc of all) for (const [p, s] of ackedOf(inc)) (out.get(p) ?? out.set(p, new Set()).get(p)!).add(s);
      return out;
    },
    expected() {
      return mergeBeats(
        ...all.map((inc) => epochBeats(expectedBeats(groupPatients[inc.group]!, simulatedMs(inc) / 1000, inc.startMs), inc.index)),
      );
    },
    incarnations: () => all.length,
    fleet() {
      const stats = (): SensorFleetStats => {
        const acked = procs.acked();
        const perPatient = Object.fromEntries([...acked].map(([p, s]) => [p, s.size]));
        // Beats published again after a reconnect are not seen from outside the sensor processes: 0 here.
        return { published: Object.values(perPatient).reduce((a, b) => a + b, 0), inflight: 0, simulatedS: Math.max(...all.map(simulatedMs)) / 1000, perPatient, resent: 0 };
      };
      return { stats, done: Promise.resolve(), stop: () => procs.stop() };
    },
  };
  return procs;
}
