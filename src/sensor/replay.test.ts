import { describe, expect, it } from 'vitest';
import { hasSharedData, readSharedText, SHARED_DATA_SKIP_REASON } from '../test-support/shared-data.js';
import { ReplayPatient, recordedBeatTimesMs, replayKind } from './replay.js';

describe('replay', () => {
  it('chooses the reader from the file name', () => {
    expect(replayKind('../x/ecg_100.csv.gz')).toBe('ecg');
    expect(replayKind('ppg_welltory_s01.csv')).toBe('ppg');
    expect(replayKind('rr_welltory_s01.csv')).toBe('rr');
  });

  it('replays RR text beat for beat and drops impossible intervals without losing time', () => {
    const text = 'time_ms,rr_ms\n1000,1000\n1800,800\n1900,100\n2700,800\n';
    const p = new ReplayPatient('P0001', recordedBeatTimesMs(text, 'rr.csv'));
    const beats = [p.next(), p.next(), p.next(), p.next()];
    expect(beats.map((b) => b && [b.seq, b.tMs, b.rrMs])).toEqual([
      [1, 1000, 1000],
      [2, 1800, 800],
      [3, 2700, 800],
      null,
    ]);
  });

  it.skipIf(!hasSharedData())('replays an ECG record through the QRS detector at its heart rate', () => {
    const beats = recordedBeatTimesMs(readSharedText('ecg_100.csv.gz'), 'ecg_100.csv.gz');
    // MIT-BIH 100: about 2270 beats in 30 min (≈ 76 bpm).
    expect(beats.length).toBeGreaterThan(2200);
    expect(beats.length).toBeLessThan(2350);
  });
  if (!hasSharedData()) console.log(SHARED_DATA_SKIP_REASON);
});
