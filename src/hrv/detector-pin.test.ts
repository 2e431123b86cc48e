/**
 * Pins the detector's and the labeller's exact output on the reference records: a speed change (fused
 * filters, reused buffers, cached correlations) must leave every beat sample and every label as it was.
 * A deliberate change of behaviour updates the digests here, in the same commit, with the validation
 * tables that show why.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { detectEcgBeats } from './ecg-detect.js';
import { labelBeats } from './beat-labels.js';
import { hasSharedData, readEcg } from '../test-support/shared-data.js';

/** Number of beats and the first 16 hex digits of the SHA-256 of the samples (Int32, little-endian) and labels. */
function digest(peaks: Int32Array, labels: string[]): string {
  const h = createHash('sha256');
  const le = new DataView(new ArrayBuffer(4 * peaks.length));
  peaks.forEach((p, i) => le.setInt32(4 * i, p, true));
  h.update(new Uint8Array(le.buffer));
  const beats = h.copy().digest('hex').slice(0, 16);
  h.update(labels.join(''));
  return `${peaks.length} ${beats} ${h.digest('hex').slice(0, 16)}`;
}

const PINNED: Record<'100' | '105' | '119', string> = {
  '100': '2272 86ddfc7ddfcfb984 1b0895596c6e63d8',
  '105': '2574 afd3a19c0bc0bcf5 cefbeab9b7b97781',
  '119': '1987 98245c3c8f9bd31d 87e5b9a503fa9ace',
};

describe.skipIf(!hasSharedData())('detector and labels: output pinned on MIT-BIH 100, 105, 119', () => {
  for (const rec of ['100', '105', '119'] as const) {
    it(`record ${rec}: beats and labels unchanged`, () => {
      const { mv, fsHz } = readEcg(rec);
      const peaks = detectEcgBeats(mv, fsHz);
      expect(digest(peaks, labelBeats(mv, fsHz, peaks))).toBe(PINNED[rec]);
    });
  }
});
