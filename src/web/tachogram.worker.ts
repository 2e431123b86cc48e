/** Cleans a long beat series off the main thread (a day of beats takes about half a second), so the page stays responsive while live data arrives. */
import { cleanBeats, tachogramData } from './beats.js';

export interface TachoRequest {
  id: number;
  tMs: Float64Array;
  rrMs: Float64Array;
}

self.onmessage = (e: MessageEvent<TachoRequest>) => {
  const { id, tMs, rrMs } = e.data;
  const cleaned = cleanBeats({ tMs, rrMs });
  self.postMessage({ id, data: tachogramData(cleaned), irregular: cleaned.report.af_spans_s ?? [] });
};
