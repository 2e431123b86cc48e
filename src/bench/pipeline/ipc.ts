/**
 * The bench children's side of the IPC channel. A child that disconnects right after `process.send` can drop a large
 * message still queued (a final report with tens of thousands of latencies): the parent then sees the child exit
 * "before answering". So the last message is awaited until Node has handed it to the channel.
 */

/** Sends `m` to the harness (fire and forget: progress lines). */
export const send = (m: unknown): void => void process.send?.(m);

/** Sends `m` to the harness and resolves once it was written to the channel (or the channel failed). */
export function sendFlushed(m: unknown): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, undefined, () => resolve());
  });
}
