/**
 * The end-to-end run against the real Mosquitto on 127.0.0.1:1883 instead of the in-process broker
 * (that broker here accepts anonymous clients; the sensors and gateway still present their credentials).
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../commands/index.js';
import { serviceOrSkip } from '../test-support/processes.js';

const up = await serviceOrSkip('MQTT broker', 1883, 'start Mosquitto to run this test');

describe.skipIf(!up)('secure pipeline end to end over Mosquitto', () => {
  it('20 patients × 60 s: published = analysed, nothing lost or duplicated, every result verified', async () => {
    const s = await runDemo(
      {
        patients: 20,
        durationS: 60,
        batchIntervalS: 0.5,
        mode: 'secure',
        speed: 20,
        mqttUrl: 'mqtt://127.0.0.1:1883',
        logLevel: 'warn',
      },
      { out: () => undefined, err: () => undefined },
    );
    expect(s.beats_published).toBeGreaterThan(20 * 50);
    expect(s.beats_analysed).toBe(s.beats_published);
    expect(s.lost).toBe(0);
    expect(s.duplicates).toBe(0);
    expect(s.rejected_files).toBe(0);
    expect(s.results_verified).toBe(s.files);
    rmSync(s.data_dir, { recursive: true, force: true });
  });
});
