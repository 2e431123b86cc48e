/**
 * Property test of the input edge: generated RR and signal files, valid and damaged in the ways real files
 * are (decimal commas, overflowing or absurd numbers, stray text, wrong column counts, index columns,
 * contradicting sampling rates, CRLF, blank lines). Every run ends with exit 0 and a sane result, or exit 2
 * and one line `hrvault: FILE[:LINE]: reason` — never an internal error (exit 1), never longer than 10 s.
 */
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInProcess } from './cli-harness.js';
import type { DetectReport } from './detect.js';
import type { HrvReport } from './hrv.js';

const dir = mkdtempSync(join(tmpdir(), 'hrvault-fuzz-'));
let counter = 0;
function write(text: string): string {
  const p = join(dir, `f${counter++}.csv`);
  writeFileSync(p, text);
  return p;
}

/** Damage applied to one line of a file. */
const damage = fc.oneof(
  fc.constant((l: string) => l.replace('.', ',')),
  fc.constant(() => '1e309'),
  fc.constant(() => '1e200'),
  fc.constant(() => '-1e12'),
  fc.constant(() => 'NaN'),
  fc.constant(() => ''),
  fc.constant((l: string) => `${l},${l}`),
  fc.constant((l: string) => l.split(',')[0] ?? ''),
  fc.constant((l: string) => `${l}x`),
  fc.constant(() => '# comment'),
  fc.constant((l: string) => l.replace(/\d/, '9999999')),
  fc.constant(() => '0'),
);

const rrFile = fc
  .record({
    n: fc.integer({ min: 0, max: 400 }),
    mean: fc.double({ min: 200, max: 3500, noNaN: true }),
    sd: fc.double({ min: 0, max: 300, noNaN: true }),
    layout: fc.constantFrom('time_ms,rr_ms', 'rr_ms', 'none1', 'none2', 'index', 'semicolon_s', 'rr_s'),
    damages: fc.array(fc.tuple(fc.nat(), damage), { maxLength: 4 }),
    seed: fc.integer(),
    crlf: fc.boolean(),
  })
  .map(({ n, mean, sd, layout, damages, seed, crlf }) => {
    let x = seed | 1;
    const rnd = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const lines: string[] = [];
    if (layout === 'time_ms,rr_ms' || layout === 'rr_ms') lines.push(layout);
    if (layout === 'semicolon_s') lines.push('time_s;rr_s');
    if (layout === 'rr_s') lines.push('RR (s)');
    const head = lines.length;
    let t = 0;
    for (let i = 0; i < n; i++) {
      const rr = Math.max(1, mean + sd * (rnd() + rnd() - 1));
      t += rr;
      if (layout === 'time_ms,rr_ms' || layout === 'none2') lines.push(`${t.toFixed(0)},${rr.toFixed(0)}`);
      else if (layout === 'index') lines.push(`${i + 1},${rr.toFixed(0)}`);
      else if (layout === 'semicolon_s') lines.push(`${(t / 1000).toFixed(3).replace('.', ',')};${(rr / 1000).toFixed(3).replace('.', ',')}`);
      else if (layout === 'rr_s') lines.push((rr / 1000).toFixed(3));
      else lines.push(rr.toFixed(0));
    }
    for (const [at, f] of damages) {
      if (lines.length === 0) break;
      const i = at % lines.length;
      lines[i] = f(lines[i]!);
    }
    return { text: lines.join(crlf ? '\r\n' : '\n') + '\n', damaged: damages.length > 0, n, head };
  });

const signalFile = fc
  .record({
    n: fc.integer({ min: 0, max: 3000 }),
    fs: fc.constantFrom(100, 250, 360),
    stated: fc.option(fc.constantFrom(100, 250, 360, 1e9, 0), { nil: undefined }),
    withTime: fc.boolean(),
    damages: fc.array(fc.tuple(fc.nat(), damage), { maxLength: 3 }),
    cliFs: fc.option(fc.constantFrom('360', '250', '1e-9', '-5', 'abc', '1e400'), { nil: undefined }),
  })
  .map(({ n, fs, stated, withTime, damages, cliFs }) => {
    const lines: string[] = [];
    if (stated !== undefined) lines.push(`# sampling_rate_hz: ${stated}`);
    if (withTime) lines.push('t_s,mV');
    for (let i = 0; i < n; i++) {
      const v = Math.sin(i / 7) + (i % Math.round(fs * 0.8) === 0 ? 2 : 0);
      lines.push(withTime ? `${(i / fs).toFixed(5)},${v.toFixed(4)}` : v.toFixed(4));
    }
    for (const [at, f] of damages) {
      if (lines.length === 0) break;
      const i = at % lines.length;
      lines[i] = f(lines[i]!);
    }
    return { text: lines.join('\n') + '\n', cliFs };
  });

/** exit 2 is one line naming the file (and a line number when the problem is on one line). */
function expectCleanRefusal(path: string, r: { code: number; stdout: string; stderr: string }): void {
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  const usage = /^hrvault: --[a-z-]+: /.test(lines[0]!);
  if (!usage) expect(lines[0]!.startsWith(`hrvault: ${path}`), r.stderr).toBe(true);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('input fuzz: generated files never crash, hang or pass garbage', () => {
  it('hrvault hrv', async () => {
    await fc.assert(
      fc.asyncProperty(rrFile, fc.constantFrom('300', '0', '60', '1e-9'), async (f, windowS) => {
        const p = write(f.text);
        const t0 = Date.now();
        const r = await runInProcess(['hrv', p, '--json', '--window-s', windowS]);
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect([0, 2]).toContain(r.code);
        if (r.code === 2) return expectCleanRefusal(p, r);
        const rep = JSON.parse(r.stdout) as HrvReport;
        expect(rep.windows.length).toBeGreaterThan(0);
        for (const w of rep.windows) {
          for (const [k, v] of Object.entries(w)) {
            if (typeof v === 'number') expect(Number.isFinite(v), `${k} = ${v}`).toBe(true);
          }
          if (w.mean_nn_ms !== null) {
            // Whatever survives is a heartbeat interval within the cleaning limits.
            expect(w.mean_nn_ms).toBeGreaterThanOrEqual(250);
            expect(w.mean_nn_ms).toBeLessThanOrEqual(3000);
          }
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
  }, 60_000);

  it('hrvault detect', async () => {
    await fc.assert(
      fc.asyncProperty(signalFile, async (f) => {
        const p = write(f.text);
        const t0 = Date.now();
        const r = await runInProcess(['detect', p, '--json', ...(f.cliFs === undefined ? [] : ['--fs', f.cliFs])]);
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect([0, 2]).toContain(r.code);
        if (r.code === 2) return expectCleanRefusal(p, r);
        const rep = JSON.parse(r.stdout) as DetectReport;
        expect(Number.isFinite(rep.fs) && rep.fs > 0).toBe(true);
        expect(rep.rr_ms.length).toBe(Math.max(0, rep.beats_s.length - 1));
        for (const v of rep.rr_ms) expect(Number.isFinite(v) && v > 0).toBe(true);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 80) },
    );
  }, 60_000);
});
