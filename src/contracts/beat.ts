/** The beat message a sensor publishes over MQTT (QoS 1), one per detected beat. */
import { z } from 'zod';

/** Shortest and longest RR interval a sensor may report, ms (300 bpm and 20 bpm). */
export const RR_MIN_MS = 200;
export const RR_MAX_MS = 3000;

/** A device or patient id on the MQTT side: 1–64 letters, digits, _ or -, not starting with _ or -. */
export const deviceIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1–64 letters, digits, _ or -');

export const beatMessageSchema = z.strictObject({
  v: z.literal(1),
  patient: deviceIdSchema,
  /** Per-device message counter, from 1. */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Beat time, ms since the epoch (or since the recording's start for replays). */
  t_ms: z.number().finite().min(0),
  /** Interval from the previous beat, ms. */
  rr_ms: z.number().finite().min(RR_MIN_MS).max(RR_MAX_MS),
  /**
   * Boot epoch of the device: any integer that grows each time the device restarts its `seq` from 1 (the sensors
   * send their start time in ms). Absent = 0, as in messages from before it existed: such a device's restart is
   * indistinguishable from a redelivery, so its restarted beats are taken for duplicates until `seq` passes the old one.
   */
  epoch: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

export type BeatMessage = z.infer<typeof beatMessageSchema>;
