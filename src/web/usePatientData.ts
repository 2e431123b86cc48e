/**
 * A patient's data for the patient page: HRV windows for the trend period, beats for the tachogram period,
 * alert acknowledgements and prescriptions, kept current by the live stream (a new result reaches the page
 * as soon as the CSP pushes it). Periods end at the newest data, so a patient whose last data is old still
 * shows it.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { errorMessage, type ApiClient } from './api.js';
import { joinBatches } from './beats.js';
import { hrvEntries, rrBatchEntries } from './hrv-model.js';
import { mergeRecord, type ApiRecord } from './model.js';
import type { TrendsAnswer } from '../contracts/index.js';

export type LiveState = 'connecting' | 'live' | 'offline';

/** Most HRV windows and beat batches loaded for one period. */
export const MAX_HRV = 5000;
export const MAX_BATCHES = 5000;
/** Buckets of a downsampled trend: about one point per two chart pixels. */
export const TREND_BUCKETS = 720;

export function usePatientData(
  client: ApiClient,
  patientId: string,
  trendMs: number,
  tachoMs: number,
  onLiveRecord?: (r: ApiRecord) => void,
) {
  const [hrv, setHrv] = useState<ApiRecord[]>([]);
  const [hrvTotal, setHrvTotal] = useState(0);
  /** The period downsampled by the server, when it holds more windows than the page loads (null otherwise). */
  const [trend, setTrend] = useState<TrendsAnswer | null>(null);
  const [batches, setBatches] = useState<ApiRecord[]>([]);
  const [acks, setAcks] = useState<ApiRecord[]>([]);
  const [prescriptions, setPrescriptions] = useState<ApiRecord[]>([]);
  const [anchorMs, setAnchorMs] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<LiveState>('connecting');
  const [lastLiveMs, setLastLiveMs] = useState<number | null>(null);
  const onLiveRef = useRef(onLiveRecord);
  onLiveRef.current = onLiveRecord;

  // The newest data time: the end of every period.
  useEffect(() => {
    let stop = false;
    setLoading(true);
    Promise.all([
      client.records(patientId, { type: 'hrv', limit: 1, order: 'desc' }),
      client.records(patientId, { type: 'rr_batch', limit: 1, order: 'desc' }),
    ])
      .then(([h, b]) => {
        if (stop) return;
        const times = [...h.items, ...b.items].map((r) => r.t_ms);
        setAnchorMs(times.length > 0 ? Math.max(...times) : Date.now());
      })
      .catch((err: unknown) => {
        if (stop) return;
        setError(errorMessage(err));
        setAnchorMs(Date.now());
      });
    return () => {
      stop = true;
    };
  }, [client, patientId]);

  const anchorKnown = anchorMs !== null;
  // Loaded ranges follow the anchor only when it was first found (live records extend them afterwards).
  const anchorRef = useRef<number | null>(null);
  if (anchorRef.current === null && anchorMs !== null) anchorRef.current = anchorMs;

  const loadTrend = useCallback(async () => {
    const end = anchorRef.current ?? Date.now();
    const r = await client.allRecords(patientId, { type: 'hrv', from_ms: end - trendMs }, MAX_HRV);
    setHrv(r.items);
    setHrvTotal(r.total);
    // More windows than loaded: the charts show the whole period from the server's buckets instead of the newest part.
    setTrend(r.total > r.items.length ? await client.trends(patientId, { from_ms: end - trendMs, to_ms: end + 1, buckets: TREND_BUCKETS }) : null);
  }, [client, patientId, trendMs]);

  const loadBeats = useCallback(async () => {
    const end = anchorRef.current ?? Date.now();
    const r = await client.allRecords(patientId, { type: 'rr_batch', from_ms: end - tachoMs }, MAX_BATCHES);
    setBatches(r.items);
  }, [client, patientId, tachoMs]);

  useEffect(() => {
    if (!anchorKnown) return;
    let stop = false;
    setLoading(true);
    Promise.all([
      loadTrend(),
      loadBeats(),
      client.allRecords(patientId, { type: 'alert_ack' }, 2000).then((r) => !stop && setAcks(r.items)),
      client.allRecords(patientId, { type: 'prescription' }, 500).then((r) => !stop && setPrescriptions(r.items)),
    ])
      .then(() => !stop && setError(null))
      .catch((err: unknown) => !stop && setError(errorMessage(err)))
      .finally(() => !stop && setLoading(false));
    return () => {
      stop = true;
    };
  }, [anchorKnown, loadTrend, loadBeats, client, patientId]);

  const add = useCallback((rec: ApiRecord) => {
    if (rec.type === 'hrv') setHrv((p) => mergeRecord(p, rec, MAX_HRV));
    else if (rec.type === 'rr_batch') setBatches((p) => mergeRecord(p, rec, MAX_BATCHES));
    else if (rec.type === 'alert_ack') setAcks((p) => mergeRecord(p, rec, 2000));
    else if (rec.type === 'prescription') setPrescriptions((p) => mergeRecord(p, rec, 500));
    if (rec.type === 'hrv' || rec.type === 'rr_batch') setAnchorMs((a) => Math.max(a ?? 0, rec.t_ms));
  }, []);

  // Live updates; reconnects after a dropped stream with a growing pause.
  useEffect(() => {
    const ac = new AbortController();
    let delay = 1000;
    const loop = async () => {
      while (!ac.signal.aborted) {
        setLive('connecting');
        try {
          await client.live(
            patientId,
            (rec) => {
              add(rec);
              setLastLiveMs(Date.now());
              onLiveRef.current?.(rec);
            },
            ac.signal,
            () => {
              setLive('live');
              delay = 1000;
            },
          );
        } catch (err) {
          if (ac.signal.aborted || !client.loggedIn) return;
          console.warn('live updates:', errorMessage(err));
        }
        if (ac.signal.aborted) return;
        setLive('offline');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    };
    void loop();
    return () => ac.abort();
  }, [client, patientId, add]);

  const hrvParsed = useMemo(() => hrvEntries(hrv), [hrv]);
  const batchParsed = useMemo(() => rrBatchEntries(batches), [batches]);
  const beats = useMemo(() => joinBatches(batchParsed.entries), [batchParsed]);

  return {
    hrv: hrvParsed.entries,
    hrvTotal,
    trend,
    invalid: hrvParsed.invalid + batchParsed.invalid,
    batches: batchParsed.entries,
    beats,
    acks,
    prescriptions,
    anchorMs,
    loading,
    error,
    setError,
    live,
    lastLiveMs,
    add,
  };
}
