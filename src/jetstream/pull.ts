/**
 * What ends a pull (a `consumer.fetch`) of this project's short pulls. nats.js ends a fetch once it missed two of the
 * server's idle heartbeats, sent every `expires / 2`: for a 1-s pull, about a second of silence from a server or a
 * process that was slow. Every caller here treats that as the end of that one pull and keeps the messages it had
 * received (a message the server sent into the silence comes back after its consumer's ack wait), instead of
 * failing and leaving the messages in hand to the ack wait too.
 */
import { JetStreamError } from '@nats-io/jetstream';

/** True for nats.js's end of a fetch whose idle heartbeats did not arrive ("heartbeats missed"). */
export function isHeartbeatsMissed(err: unknown): boolean {
  return err instanceof JetStreamError && err.message === 'heartbeats missed';
}
