/**
 * Replay of a recorded file as one patient's beats: an RR text file as it is, or a raw ECG (`ecg_*`) or PPG
 * (`ppg_*`) signal run through src/hrv's beat detectors first. Intervals a real sensor would not send
 * (outside 200–3000 ms, e.g. around a missed beat) are dropped; time still advances over them.
 */
import { detectEcgBeats, detectPpgBeats, parseRrText, parseSignalText } from '../hrv/index.js';
import { RR_MAX_MS, RR_MIN_MS } from './message.js';
import type { SyntheticBeat } from './synthetic.js';

/** Anything that yields one patient's beats in order; null when it has no more. */
export interface BeatSource {
  readonly patient: string;
  next(): SyntheticBeat | null;
}

/** Which reader a replayed file needs, from its base name. */
export function replayKind(name: string): 'ecg' | 'ppg' | 'rr' {
  const base = name.split(/[\\/]/).at(-1)!.toLowerCase();
  if (base.startsWith('ecg')) return 'ecg';
  if (base.startsWith('ppg')) return 'ppg';
  return 'rr';
}

/** Beat times (ms from the start of the record) of a recorded file's text. */
export function recordedBeatTimesMs(text: string, name: string): Float64Array {
  const kind = replayKind(name);
  if (kind === 'rr') {
    const s = parseRrText(text, name);
    const t = new Float64Array(s.tMs.length + 1);
    t[0] = (s.tMs[0] ?? 0) - (s.rrMs[0] ?? 0);
    t.set(s.tMs, 1);
    return t;
  }
  const sig = parseSignalText(text, name);
  if (kind === 'ecg') {
    const fs = sig.fsHz ?? 0;
    const idx = detectEcgBeats(sig.values, fs);
    return Float64Array.from(idx, (i) => (i / fs) * 1000);
  }
  const tS = sig.tS ?? Float64Array.from(sig.values, (_, i) => i / (sig.fsHz ?? 1));
  return Float64Array.from(detectPpgBeats(tS, sig.values), (t) => t * 1000);
}

/** A beat source replaying recorded beat times (integer ms, times the running sum of the intervals). */
export class ReplayPatient implements BeatSource {
  readonly patient: string;
  private readonly beatsMs: Float64Array;
  private i = 1;
  private seq = 0;
  private tMs = 0;

  constructor(patient: string, beatTimesMs: Float64Array) {
    this.patient = patient;
    this.beatsMs = beatTimesMs;
  }

  next(): SyntheticBeat | null {
    while (this.i < this.beatsMs.length) {
      const rr = Math.round(this.beatsMs[this.i]! - this.beatsMs[this.i - 1]!);
      this.i++;
      this.tMs += rr;
      if (rr >= RR_MIN_MS && rr <= RR_MAX_MS) {
        this.seq++;
        return { seq: this.seq, tMs: this.tMs, rrMs: rr, ectopic: false };
      }
    }
    return null;
  }
}
