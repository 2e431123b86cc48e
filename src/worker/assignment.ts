/**
 * How many partitions a worker should own, and which to try next: an even share of the partitions among the
 * workers alive (registered in a KV bucket whose entries expire), with no coordinator. Every worker computes the
 * same share from the same registry; a worker below it takes free or expired partitions, a worker above it gives
 * up what is above it, so ownership converges after a worker joins or dies. Correctness does not depend on this
 * (the leases fence every commit); only balance and takeover time do.
 */

/** The share of `partitions` one of `workers` live workers should own: the ceiling of an even split. */
export function fairShare(partitions: number, workers: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1)
    throw new RangeError(`bad partition count ${partitions}`);
  return Math.ceil(partitions / Math.max(1, workers));
}

/**
 * What to do this round, given the ids of the live workers (this one included): `share` = this worker's target,
 * the floor of an even split plus one for the first `partitions mod workers` ids in sorted order (every worker
 * computes the same targets from the same registry, so 16 partitions on 3 workers settle at 6/5/5 without a
 * coordinator and without a partition bouncing between two workers); `take` = partitions to try to acquire (not
 * owned here, starting at an offset derived from the worker id so contenders spread); `give` = the owned partitions
 * above the target (the highest numbers), all released this round so a joining worker gets its share at once.
 */
export function plan(
  partitions: number,
  live: readonly string[],
  owned: ReadonlySet<number>,
  workerId: string,
): { share: number; take: number[]; give: number[] } {
  const ids = [...new Set([...live, workerId])].sort();
  const floor = Math.floor(partitions / ids.length);
  const share = floor + (ids.indexOf(workerId) < partitions % ids.length ? 1 : 0);
  let offset = 0;
  for (let i = 0; i < workerId.length; i++) offset = (offset * 31 + workerId.charCodeAt(i)) % partitions;
  const take: number[] = [];
  if (owned.size < share)
    for (let i = 0; i < partitions; i++) {
      const p = (offset + i) % partitions;
      if (!owned.has(p)) take.push(p);
    }
  const give = [...owned].sort((a, b) => b - a).slice(0, Math.max(0, owned.size - share));
  return { share, take, give };
}
