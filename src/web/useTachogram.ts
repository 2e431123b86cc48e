/**
 * The tachogram's series for the last `periodMs` of beats: computed at once for short series, in a worker
 * for long ones (the previous picture stays until the new one is ready, and only the newest request counts).
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import type { RrSeries } from '../hrv/index.js';
import { cleanBeats, sliceBeats, tachogramData, type TachogramData } from './beats.js';

export interface Tacho {
  data: TachogramData;
  /** Irregular-rhythm stretches, epoch seconds. */
  irregular: Array<[number, number]>;
}

/** Beats above which cleaning moves to a worker (about 1 h at rest: a few tens of ms in the page). */
export const WORKER_THRESHOLD = 5000;

function compute(s: RrSeries): Tacho {
  const cleaned = cleanBeats(s);
  return { data: tachogramData(cleaned), irregular: cleaned.report.af_spans_s ?? [] };
}

export function useTachogram(beats: RrSeries, periodMs: number): Tacho | null {
  const slice = useMemo(() => {
    const n = beats.tMs.length;
    if (n === 0) return null;
    const end = beats.tMs[n - 1]!;
    const s = sliceBeats(beats, end - periodMs, end);
    // A copy: src/hrv treats a series as its own.
    return { tMs: Float64Array.from(s.tMs), rrMs: Float64Array.from(s.rrMs) };
  }, [beats, periodMs]);
  const small = slice !== null && slice.tMs.length <= WORKER_THRESHOLD;
  const direct = useMemo(() => (slice && small ? compute(slice) : null), [slice, small]);
  const [fromWorker, setFromWorker] = useState<Tacho | null>(null);
  const worker = useRef<Worker | null>(null);
  const seq = useRef(0);

  useEffect(() => {
    if (!slice || small) return;
    if (typeof Worker === 'undefined') {
      setFromWorker(compute(slice));
      return;
    }
    worker.current ??= new Worker(new URL('./tachogram.worker.ts', import.meta.url), { type: 'module' });
    const id = ++seq.current;
    const w = worker.current;
    const on = (e: MessageEvent<{ id: number } & Tacho>) => {
      if (e.data.id === seq.current) setFromWorker({ data: e.data.data, irregular: e.data.irregular });
    };
    w.addEventListener('message', on);
    // Fresh copies are transferred: the slice itself must survive a re-run of this effect.
    const tMs = Float64Array.from(slice.tMs);
    const rrMs = Float64Array.from(slice.rrMs);
    w.postMessage({ id, tMs, rrMs }, [tMs.buffer, rrMs.buffer]);
    return () => w.removeEventListener('message', on);
  }, [slice, small]);

  useEffect(
    () => () => {
      worker.current?.terminate();
      worker.current = null;
    },
    [],
  );
  if (!slice) return null;
  return small ? direct : fromWorker;
}
