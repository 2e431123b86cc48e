/**
 * What ends a pull (a `consumer.fetch`) of this project's short pulls. nats.js ends a fetch once it missed two of the
 * server's idle heartbeats, sent every `expires / 2`: for a 1-s pull, about a second of silence from a server or a
 * process that was slow. Every caller here treats that as the end of that one pull and keeps the messages it had
 * received (a message the server sent into the silence comes back after its consumer's ack wait), instead of
 * failing and leaving the messages in hand to the ack wait too.
 */
import { JetStreamError, type JsMsg } from '@nats-io/jetstream';

/** True for nats.js's end of a fetch whose idle heartbeats did not arrive ("heartbeats missed"). */
function isHeartbeatsMissed(err: unknown): boolean {
  return err instanceof JetStreamError && err.message === 'heartbeats missed';
}

/**
 * Every message of one pull, in order. Missed heartbeats end the pull with what it received; any other failure naks
 * what it received (delivered again at once rather than after the ack wait) and is thrown.
 */
export async function collectPull(iter: AsyncIterable<JsMsg>): Promise<JsMsg[]> {
  const out: JsMsg[] = [];
  try {
    for await (const m of iter) out.push(m);
  } catch (err) {
    if (!isHeartbeatsMissed(err)) {
      for (const m of out) m.nak();
      throw err;
    }
  }
  return out;
}
