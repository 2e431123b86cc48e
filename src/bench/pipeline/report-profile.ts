/** The report's "Where the time goes" section, from the points of a `--cpu-prof` run (src/bench/pipeline/profile.ts). */
import type { BenchRun } from './output.js';
import type { ProfiledProcess } from './point.js';
import type { ProfileSummary } from './profile.js';

const WHO: Record<ProfiledProcess, string> = { host: 'host (cloud server process)', enclave: 'enclave process', generator: 'load generator' };

function summaryLines(who: string, s: ProfileSummary, top: number): string[] {
  const lines = [`**${who}**: ${s.busy_s.toFixed(1)} s busy of ${s.sampled_s.toFixed(1)} s sampled.`, ''];
  if (s.inclusive.length > 0) lines.push(`Inclusive time of the pipeline's steps: ${s.inclusive.map((e) => `\`${e.fn}\` ${e.pct}%`).join(', ')}.`, '');
  lines.push('| self time | function |', '| --- | --- |', ...s.self.slice(0, top).map((e) => `| ${e.pct}% (${e.s.toFixed(2)} s) | \`${e.fn}\` |`), '');
  return lines;
}

/** Markdown lines for every profiled point of `runs` (none when no point was profiled). */
export function profileSection(runs: readonly BenchRun[], top = 12): string[] {
  const profiled = runs.flatMap((r) => r.points.filter((p) => p.profile).map((p) => ({ run: r, p })));
  if (profiled.length === 0) return [];
  const lines = [
    '## Where the time goes (CPU profiles)',
    '',
    'V8 CPU profiles of every process of the points below, taken in a separate run (profiling slows a point down, so these points are not among the figures above). Self time is the time spent in the function itself, as a share of the process\'s busy (non-idle) time; inclusive time counts what the function called as well.',
    '',
  ];
  for (const { run, p } of profiled) {
    lines.push(`### ${p.mode}, ${p.clients.toLocaleString('en-US')} client${p.clients === 1 ? '' : 's'} at ${p.rate.toLocaleString('en-US')} beats/s, ${p.duration_s} s`, '', '```sh', run.command, '```', '');
    lines.push(`Under the profiler: micro-batch mean ${p.batch_ms_mean ?? '–'} ms, CPU host ${p.host_cpu_pct ?? '–'}% / enclave ${p.enclave_cpu_pct ?? '–'}% / generator ${p.generator_cpu_pct ?? '–'}% of a core.`, '');
    for (const who of ['enclave', 'host', 'generator'] as const) {
      const s = p.profile?.[who];
      if (s) lines.push(...summaryLines(WHO[who], s, top));
    }
  }
  return lines;
}

/** Splits runs into those whose figures go into the tables and those taken under the profiler. */
export function splitProfiled(runs: readonly BenchRun[]): { figures: BenchRun[]; profiled: BenchRun[] } {
  const isProfiled = (r: BenchRun): boolean => r.points.some((p) => p.profile !== undefined);
  return { figures: runs.filter((r) => !isProfiled(r)), profiled: runs.filter(isProfiled) };
}
