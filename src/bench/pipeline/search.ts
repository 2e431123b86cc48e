/** The largest stable configuration by doubling, then bisection: the fewest probes for a resolution. */

export interface SearchProbe {
  x: number;
  stable: boolean;
}

export interface SearchResult {
  /** The largest value found stable; null when even the smallest probed was not. */
  largest_stable: number | null;
  /** The smallest value found unstable; null when nothing up to `max` was. */
  first_unstable: number | null;
  probes: SearchProbe[];
}

export interface SearchOptions {
  /** First value probed (a positive integer). */
  start: number;
  /** Largest value ever probed. */
  max: number;
  /** Stop once the bracket is within this fraction of its lower end (default 0.1) or one unit. */
  resolution?: number;
  /** A value already known stable (a sweep's point): the bracket's lower end from the start. */
  knownStable?: number;
  /** A value already known unstable (a sweep's point above `knownStable`): the bracket's upper end from the start. */
  knownUnstable?: number;
  /** Probes at most (default 12). */
  maxProbes?: number;
}

/**
 * Finds the largest integer x in [1, max] for which `probe(x)` is stable, assuming stability falls off with x:
 * doubles from `start` while stable (halves while not), then bisects the bracket.
 */
export async function searchLargestStable(probe: (x: number) => Promise<boolean>, o: SearchOptions): Promise<SearchResult> {
  const resolution = o.resolution ?? 0.1;
  const maxProbes = o.maxProbes ?? 12;
  const probes: SearchProbe[] = [];
  const run = async (x: number): Promise<boolean> => {
    const stable = await probe(x);
    probes.push({ x, stable });
    return stable;
  };
  let lo: number | null = o.knownStable ?? null;
  let hi: number | null = o.knownUnstable ?? null;
  let x = Math.max(1, Math.min(o.max, Math.round(o.start)));
  // Bracket: double while stable, halve while not (unless the sweep already bracketed it).
  while (probes.length < maxProbes && (lo === null || hi === null)) {
    if (await run(x)) {
      lo = x;
      if (hi !== null || x >= o.max) break;
      x = Math.min(o.max, x * 2);
    } else {
      hi = x;
      if (lo !== null || x <= 1) break;
      x = Math.max(1, Math.floor(x / 2));
    }
  }
  // Bisect.
  while (lo !== null && hi !== null && probes.length < maxProbes && hi - lo > Math.max(1, resolution * lo)) {
    const mid = Math.round((lo + hi) / 2);
    if (await run(mid)) lo = mid;
    else hi = mid;
  }
  return { largest_stable: lo, first_unstable: hi, probes };
}
