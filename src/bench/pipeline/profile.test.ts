import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchRun } from './output.js';
import type { PointResult } from './point.js';
import { cpuProfArgs, summariseCpuProfile, summariseProfileDir } from './profile.js';
import { profileSection, splitProfiled } from './report-profile.js';

const dir = mkdtempSync(join(tmpdir(), 'hrvault-prof-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A real V8 profile: a script whose time goes mostly into `heavy` (called from `outer`) and a little into `light`.
const script = join(dir, 'work.js');
writeFileSync(
  script,
  `function heavy(n) { let x = 0; for (let i = 0; i < n; i++) x += Math.sqrt(i) * Math.sin(i); return x; }
function light(n) { let x = 0; for (let i = 0; i < n; i++) x ^= i; return x; }
function outer() { return heavy(4e7) + light(2e6); }
let t = 0; for (let k = 0; k < 3; k++) t += outer();
if (t === 42) console.log(t);
`,
);
execFileSync(process.execPath, [...cpuProfArgs(join(dir, 'out')), script]);

describe('summariseCpuProfile', () => {
  it('finds where a real profile spent its time, self and inclusive', () => {
    const s = summariseProfileDir(join(dir, 'out'));
    expect(s).toBeDefined();
    expect(s!.busy_s).toBeGreaterThan(0);
    expect(s!.busy_s).toBeLessThanOrEqual(s!.sampled_s);
    expect(s!.self[0]!.fn).toMatch(/^heavy work\.js:1$/);
    expect(s!.self[0]!.pct).toBeGreaterThan(50);
    const pcts = s!.self.map((e) => e.pct);
    expect(pcts).toEqual([...pcts].sort((a, b) => b - a));
    const [file] = readdirSync(join(dir, 'out'));
    const withSteps = summariseCpuProfile(readFileSync(join(dir, 'out', file!), 'utf8'), 5, ['outer', 'heavy', 'absent']);
    const outer = withSteps.inclusive.find((e) => e.fn === 'outer')!;
    const heavy = withSteps.inclusive.find((e) => e.fn === 'heavy')!;
    expect(outer.s).toBeGreaterThanOrEqual(heavy.s);
    expect(withSteps.inclusive.some((e) => e.fn === 'absent')).toBe(false);
    expect(withSteps.self).toHaveLength(Math.min(5, withSteps.self.length));
  });

  it('refuses a file that is not a CPU profile, naming the problem', () => {
    expect(() => summariseCpuProfile('{"nodes": 3}')).toThrow(/nodes/);
  });

  it('reports nothing for a directory without a profile', () => {
    expect(summariseProfileDir(join(dir, 'missing'))).toBeUndefined();
  });
});

describe('the report\'s profile section', () => {
  it('shows a profiled point\'s top functions and keeps profiled runs out of the figures', () => {
    const summary = summariseProfileDir(join(dir, 'out'))!;
    const point = { mode: 'secure', clients: 10, rate: 1, duration_s: 3, batch_ms_mean: 12, host_cpu_pct: 5, enclave_cpu_pct: 3, generator_cpu_pct: 2 } as PointResult;
    const run = (profile: boolean): BenchRun => ({ kind: 'clients', command: 'hrvault bench clients --cpu-prof p', started: '', machine: {} as BenchRun['machine'], points: [profile ? { ...point, profile: { enclave: summary } } : point], searches: [] });
    const { figures, profiled } = splitProfiled([run(false), run(true)]);
    expect([figures.length, profiled.length]).toEqual([1, 1]);
    expect(profileSection(figures)).toEqual([]);
    const md = profileSection(profiled).join('\n');
    expect(md).toContain('## Where the time goes');
    expect(md).toContain('`heavy work.js:1`');
    expect(md).toContain('**enclave process**');
    expect(md).not.toContain('**host');
  });
});
