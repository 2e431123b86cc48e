/**
 * `--cpu-prof`: where a point's CPU time went. Each process of the point (host server, enclave, load generator) runs
 * with V8's `--cpu-prof` into its own directory; this module reads the `.cpuprofile` it wrote on exit and keeps the
 * functions with the most self time, plus the inclusive time of the pipeline's named steps, so a report can say
 * where the time goes without anyone opening a profiler.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** The parts of V8's `.cpuprofile` JSON this module reads (the format Chrome DevTools loads). */
const cpuProfileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number().int(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number().int() }),
      children: z.array(z.number().int()).optional(),
    }),
  ),
  samples: z.array(z.number().int()),
  timeDeltas: z.array(z.number()),
});

/** One function's share of the busy (non-idle) time. */
export interface ProfileEntry {
  /** Function name and where it is (`file:line`, 1-based; empty for V8's own entries). */
  fn: string;
  /** Share of busy time, percent. */
  pct: number;
  /** Seconds. */
  s: number;
}

/** One process's profile, boiled down. */
export interface ProfileSummary {
  /** Seconds sampled in all, and of those not idle. */
  sampled_s: number;
  busy_s: number;
  /** Most self time first. */
  self: ProfileEntry[];
  /** Inclusive time of the functions asked for (those seen at all), most first. */
  inclusive: ProfileEntry[];
}

/** Steps of the pipeline whose inclusive time a summary reports when they appear (enclave and host). */
export const PIPELINE_STEPS = [
  'processBatch', '#processFile', 'analyse', 'openEpochEnvelope', 'sealEpochEnvelope', 'checkpoint', 'save', 'takeDelta',
  'runOneBatch', 'commit', 'pending', 'fileWaiting', 'writeDoneManifest',
] as const;

const IDLE = new Set(['(idle)', '(program)']);

function label(cf: { functionName: string; url: string; lineNumber: number }): string {
  const file = cf.url.split('/').pop() ?? '';
  return file === '' ? cf.functionName || '(anonymous)' : `${cf.functionName || '(anonymous)'} ${file}:${cf.lineNumber + 1}`;
}

/** Summarises one `.cpuprofile` JSON text: `top` self-time entries and the inclusive time of `steps`. */
export function summariseCpuProfile(json: string, top = 15, steps: readonly string[] = PIPELINE_STEPS): ProfileSummary {
  const p = cpuProfileSchema.parse(JSON.parse(json));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const wanted = new Set(steps);
  let sampled = 0;
  let busy = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    sampled += dt;
    const node = byId.get(id);
    if (!node || IDLE.has(node.callFrame.functionName)) return;
    busy += dt;
    const name = label(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + dt);
    // Inclusive: once per sample per step name, however deep the recursion.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const fn = byId.get(at)?.callFrame.functionName ?? '';
      if (wanted.has(fn) && !seen.has(fn)) {
        seen.add(fn);
        incl.set(fn, (incl.get(fn) ?? 0) + dt);
      }
    }
  });
  const entries = (m: Map<string, number>): ProfileEntry[] =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([fn, us]) => ({ fn, pct: busy > 0 ? Math.round((1000 * us) / busy) / 10 : 0, s: Math.round(us / 1e4) / 100 }));
  return { sampled_s: Math.round(sampled / 1e4) / 100, busy_s: Math.round(busy / 1e4) / 100, self: entries(self).slice(0, top), inclusive: entries(incl) };
}

/** V8 names a profile `CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile`; thread 0 is the main thread. */
const PROFILE_FILE = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/;

/**
 * Summarises the main thread's `.cpuprofile` in `dir` (the process's own work; a TypeScript loader's worker thread
 * writes a second one); undefined when there is none.
 */
export function summariseProfileDir(dir: string, top?: number): ProfileSummary | undefined {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => PROFILE_FILE.exec(f)?.[1] === '0').sort();
  } catch {
    return undefined;
  }
  const last = files.at(-1);
  return last === undefined ? undefined : summariseCpuProfile(readFileSync(join(dir, last), 'utf8'), top);
}

/** Node flags that make a process write its CPU profile into `dir` when it exits. */
export function cpuProfArgs(dir: string): string[] {
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}
