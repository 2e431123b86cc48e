/**
 * The beat message on the wire (sensor → gateway over MQTT) and its topic. Version 1:
 * `{v: 1, patient, seq, t_ms, rr_ms}` as JSON on `<prefix>/<device>/beats`.
 */
import { z } from 'zod';

/** Lowest and highest RR interval accepted as physiologically possible, ms (300 and 20 bpm). */
export const RR_MIN_MS = 200;
export const RR_MAX_MS = 3000;

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1–64 letters, digits, _ or -');

/** Schema of a version-1 beat message; `t_ms` is the beat time (ms since the epoch), `rr_ms` the interval ending there. */
export const beatMessageSchema = z
  .object({
    v: z.literal(1),
    patient: name,
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    t_ms: z.number().finite().min(0),
    rr_ms: z.number().finite().min(RR_MIN_MS).max(RR_MAX_MS),
  })
  .strict();

export type BeatMessage = z.infer<typeof beatMessageSchema>;

/** The topic a device publishes its beats on. */
export function beatTopic(prefix: string, device: string): string {
  return `${prefix}/${device}/beats`;
}

/** The device named by a beat topic, or undefined when the topic is not a beat topic under `prefix`. */
export function deviceOfTopic(prefix: string, topic: string): string | undefined {
  const head = `${prefix}/`;
  if (!topic.startsWith(head) || !topic.endsWith('/beats')) return undefined;
  const device = topic.slice(head.length, -'/beats'.length);
  return name.safeParse(device).success ? device : undefined;
}

/** The device id conventionally carrying a patient's beats in the demo. */
export function deviceOfPatient(patient: string): string {
  return `dev-${patient}`;
}
