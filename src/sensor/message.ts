/**
 * The beat message on the wire (sensor → gateway over MQTT) and its topic. Version 1:
 * `{v: 1, patient, seq, t_ms, rr_ms, epoch?}` as JSON on `<prefix>/<device>/beats`.
 */
import { deviceIdSchema } from '../contracts/index.js';

export { beatMessageSchema, RR_MIN_MS, RR_MAX_MS, type BeatMessage } from '../contracts/index.js';

/** The topic a device publishes its beats on. */
export function beatTopic(prefix: string, device: string): string {
  return `${prefix}/${device}/beats`;
}

/** The device named by a beat topic, or undefined when the topic is not a beat topic under `prefix`. */
export function deviceOfTopic(prefix: string, topic: string): string | undefined {
  const head = `${prefix}/`;
  if (!topic.startsWith(head) || !topic.endsWith('/beats')) return undefined;
  const device = topic.slice(head.length, -'/beats'.length);
  return deviceIdSchema.safeParse(device).success ? device : undefined;
}

/** The device id conventionally carrying a patient's beats in the demo. */
export function deviceOfPatient(patient: string): string {
  return `dev-${patient}`;
}
