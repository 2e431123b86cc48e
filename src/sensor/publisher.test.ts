import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../gateway/index.js';
import { beatMessageSchema, devicePassword, startSensorFleet, SyntheticPatient, syntheticPatients, type BeatAck, type BeatMessage } from './index.js';

const SECRET = 'publisher-test-secret';
const PREFIX = 'hrvault/v1/pubtest';
const START = Date.UTC(2026, 0, 1);
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('startSensorFleet fault options', () => {
  it('sends the listed beats with a stepped time (only those) and reports every acknowledged beat', async () => {
    const broker = await startEmbeddedBroker({
      credentials: (u) => (u === 'sub' ? 'subpass' : u.startsWith('dev-') ? devicePassword(SECRET, u) : undefined),
      gatewayUsernames: ['sub'],
      topicPrefix: PREFIX,
    });
    cleanup.push(() => broker.close());
    const sub = await mqtt.connectAsync(broker.url, { username: 'sub', password: 'subpass', clientId: 'sub' });
    cleanup.push(() => sub.endAsync());
    const got: BeatMessage[] = [];
    sub.on('message', (_t, payload) => got.push(beatMessageSchema.parse(JSON.parse(payload.toString()))));
    await sub.subscribeAsync(`${PREFIX}/+/beats`, { qos: 1 });
    const patients = syntheticPatients(2, 5);
    const [p1, p2] = [patients[0]!.patient, patients[1]!.patient];
    const acks: BeatAck[] = [];
    const fleet = await startSensorFleet({
      url: broker.url,
      topicPrefix: PREFIX,
      patients,
      speed: 200,
      durationS: 10,
      startMs: START,
      epoch: 7,
      password: (d) => devicePassword(SECRET, d),
      maxInflight: 10,
      clockSteps: [
        { patient: p1, seq: 3, deltaMs: 86_400_000 },
        { patient: p2, seq: 4, deltaMs: -2_500 },
      ],
      onAck: (a) => acks.push(a),
    });
    await fleet.done;
    await fleet.stop();
    const st = fleet.stats();
    await expect.poll(() => got.length).toBe(st.published);
    expect(acks).toHaveLength(st.published);
    expect(acks.every((a) => a.epoch === 7)).toBe(true);
    for (const p of patients) {
      const gen = new SyntheticPatient(p);
      const mine = got.filter((m) => m.patient === p.patient).sort((a, b) => a.seq - b.seq);
      expect(mine.map((m) => m.seq)).toEqual(acks.filter((a) => a.device === `dev-${p.patient}`).map((a) => a.seq).sort((a, b) => a - b));
      for (const m of mine) {
        const b = gen.next();
        const step = p.patient === p1 && m.seq === 3 ? 86_400_000 : p.patient === p2 && m.seq === 4 ? -2_500 : 0;
        expect(m.t_ms, `${p.patient} seq ${m.seq}`).toBe(START + b.tMs + step);
      }
    }
  });
});
