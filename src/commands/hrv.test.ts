import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { SHARED_DATA_DIR, SHARED_DATA_SKIP_REASON, hasSharedData } from '../test-support/shared-data.js';
import { runInProcess } from './cli-harness.js';
import type { HrvReport } from './hrv.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hrvault-hrv-'));
function file(name: string, text: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** A regular 5-minute series with a respiratory sinus arrhythmia, in the gateway format. */
function sineSeries(durationS = 300): string {
  const lines = ['time_ms,rr_ms'];
  let t = 0;
  while (t + 1000 < durationS * 1000) {
    const rr = Math.round(800 + 40 * Math.sin((2 * Math.PI * 0.25 * t) / 1000));
    t += rr;
    lines.push(`${t},${rr}`);
  }
  return lines.join('\n') + '\n';
}

describe('hrvault hrv: bad input is one line naming file, line and problem, exit 2', () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ['missing file', () => join(dir, 'nope.csv'), /nope\.csv: no such file$/],
    ['empty file', () => file('empty.csv', ''), /empty\.csv: is empty$/],
    ['comments only', () => file('comments.csv', '# x\ntime_ms,rr_ms\n'), /comments\.csv: no RR intervals \(empty file\)$/],
    ['non-numeric field', () => file('nan.csv', 'time_ms,rr_ms\n800,800\n1600,abc\n'), /nan\.csv:3: RR interval "abc" is not a number$/],
    ['zero interval', () => file('zero.csv', '800\n0\n'), /zero\.csv:2: RR interval must be > 0, got 0$/],
    ['negative interval', () => file('neg.csv', '1000,800\n1800,-800\n'), /neg\.csv:2: RR interval must be > 0, got -800$/],
    ['times backwards', () => file('back.csv', '1000,800\n1800,800\n1750,700\n'), /back\.csv:3: beat time 1750 goes backwards/],
    ['too few beats', () => file('few.csv', '800\n'), /few\.csv: too few beats: window 0–300 s has 1 NN interval/],
  ];
  for (const [name, path, message] of cases) {
    it(name, async () => {
      const r = await runInProcess(['hrv', path(), '--json']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(new RegExp(`^hrvault: \\S*${message.source}`));
    });
  }

  it('rejects bad option values with one hrvault: line naming the option', async () => {
    const p = file('ok.csv', sineSeries());
    const bad = [
      ['--window-s', '-1'],
      ['--window-s', 'x'],
      ['--window-s', '1e-9'],
      ['--window-s', 'Infinity'],
      ['--step-s', '0'],
      ['--step-s', '1e400'],
      ['--psd', 'fft'],
      ['--correction', 'kubios'],
    ];
    for (const args of bad) {
      const r = await runInProcess(['hrv', p, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^hrvault: ${args[0]}: `));
    }
  });
});

describe('hrvault hrv: inputs that used to pass garbage, crash or hang', () => {
  it('refuses a gzip bomb by its decompressed size, exit 2, one line', async () => {
    // 300 gzip members of 1 MiB of zeros each: ~300 kB that decompress to 300 MiB.
    const member = gzipSync(Buffer.alloc(1 << 20, 0x30));
    const p = file('bomb.csv.gz', Buffer.concat(Array.from({ length: 300 }, () => member)));
    const r = await runInProcess(['hrv', p, '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(/^hrvault: \S*bomb\.csv\.gz: decompresses to more than \d+ MiB/);
  });

  it('refuses an interval of 1e12 ms quickly, naming the line', async () => {
    const p = file('huge.txt', '800\n810\n1e12\n790\n');
    const t0 = Date.now();
    const r = await runInProcess(['hrv', p, '--json']);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(/^hrvault: \S*huge\.txt:3: RR interval/);
  });

  it('refuses 1e309 with the file and line, not a 0-based interval index', async () => {
    const p = file('inf.txt', '800\n810\n1e309\n790\n');
    const r = await runInProcess(['hrv', p, '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(/^hrvault: \S*inf\.txt:3: RR interval 1e309 is not a finite number/);
  });

  it('refuses a window count that would never end (beat times far from 0 with a short step)', async () => {
    const p = file('far.csv', 'time_ms,rr_ms\n1e11,800\n100000000800,800\n100000001600,800\n');
    const t0 = Date.now();
    const r = await runInProcess(['hrv', p, '--json', '--window-s', '10']);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(/^hrvault: \S*far\.csv: .*windows/);
  });

  it('reads a headerless index,rr file as intervals without gaps (RMSSD defined)', async () => {
    const rr = Array.from({ length: 400 }, (_, i) => Math.round(800 + 30 * Math.sin(i / 2)));
    const p = file('index.csv', rr.map((v, i) => `${i + 1},${v}`).join('\n') + '\n');
    const r = await runInProcess(['hrv', p, '--json', '--window-s', '0', '--correction', 'none']);
    expect(r.code).toBe(0);
    const w = (JSON.parse(r.stdout) as HrvReport).windows[0]!;
    expect(w.n_nn).toBe(400);
    expect(w.rmssd_ms).not.toBeNull();
  });
});

/** Every interval between annotated beats of an MIT-BIH record, as a `time_ms,rr_ms` file. */
function recordFile(rec: string): string {
  const rows = readFileSync(join(SHARED_DATA_DIR, `beats_${rec}.csv`), 'utf8')
    .split(/\r?\n/)
    .filter((l) => /^\d/.test(l))
    .map((l) => l.split(','))
    .filter((r) => /^[NLRBAaJSVrFejnE/fQ?]$/.test((r[2] ?? '').trim()))
    .map((r) => Number(r[0]) * 1000);
  const lines = ['time_ms,rr_ms'];
  for (let i = 1; i < rows.length; i++) lines.push(`${rows[i]!.toFixed(1)},${(rows[i]! - rows[i - 1]!).toFixed(1)}`);
  return file(`rec_${rec}.csv`, lines.join('\n') + '\n');
}

describe.skipIf(!hasSharedData())('hrvault hrv: irregular rhythm and ectopy on MIT-BIH records', () => {
  it('flags AF per window on 203 and says cleaning was not applied there', async () => {
    const r = await runInProcess(['hrv', recordFile('203'), '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as HrvReport;
    const full = rep.windows.filter((w) => !w.partial);
    expect(full.every((w) => w.af_suspected)).toBe(true);
    expect(rep.correction.af_suspected).toBe(true);
    expect(rep.correction.n_af_uncorrected).toBeGreaterThan(2000);
    const table = await runInProcess(['hrv', recordFile('203')]);
    expect(table.stdout).toMatch(/suspected AF.*not corrected there/);
  });

  it('does not flag 119 (ventricular bigeminy/trigeminy) as AF, and flags windows where cleaning excluded > 20%', async () => {
    const rep = JSON.parse((await runInProcess(['hrv', recordFile('119'), '--json'])).stdout) as HrvReport;
    expect(rep.windows.some((w) => w.af_suspected)).toBe(false);
    expect(rep.correction.af_suspected).toBe(false);
    // 119 loses 45% of its intervals to its PVCs: most windows are over the limit, and say so.
    expect(rep.windows.filter((w) => w.excluded_over_limit).length).toBeGreaterThan(2);
    for (const w of rep.windows) expect(w.excluded_over_limit).toBe(w.excluded_fraction! > 0.2);
  });
});

describe('hrvault hrv: missed beats, slow rhythms, partial windows', () => {
  it('reports the runs of missed beats it restored', async () => {
    const rr: number[] = [];
    for (let i = 0; i < 400; i++) rr.push(Math.round(800 + 20 * Math.sin(i / 2)));
    // Two beats missed in a row, then 6 doubled intervals in a row.
    rr.splice(100, 3, rr[100]! + rr[101]! + rr[102]!);
    for (let k = 0; k < 6; k++) rr.splice(200 + k, 2, rr[200 + k]! + rr[201 + k]!);
    const rep = JSON.parse((await runInProcess(['hrv', file('missed.txt', rr.join('\n')), '--json'])).stdout) as HrvReport;
    const runs = rep.correction.missed_beat_runs;
    expect(runs.map((x) => [x.n_intervals, x.n_missed])).toEqual([
      [1, 2],
      [6, 6],
    ]);
  });

  it('accepts a rhythm below 30 bpm (it used to exclude everything and refuse the file)', async () => {
    const rr = Array.from({ length: 200 }, (_, i) => Math.round(2200 + 40 * Math.sin(i / 2)));
    const r = await runInProcess(['hrv', file('slow.txt', rr.join('\n')), '--json', '--window-s', '0']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as HrvReport;
    expect(rep.correction.n_excluded).toBe(0);
    expect(rep.windows[0]!.mean_hr_bpm!).toBeLessThan(30);
  });

  it('marks a partial last window', async () => {
    const rep = JSON.parse((await runInProcess(['hrv', file('p.csv', sineSeries(400)), '--json'])).stdout) as HrvReport;
    expect(rep.windows.map((w) => w.partial)).toEqual([false, true]);
  });
});

describe('hrvault hrv: good runs', () => {
  it('computes every measure per window, aligned at time 0, with the cleaning report', async () => {
    const p = file('sine.csv.gz', gzipSync(sineSeries(600)));
    const r = await runInProcess(['hrv', p, '--json', '--window-s', '300', '--step-s', '150']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as HrvReport;
    expect(report.windows.map((w) => [w.start_s, w.end_s])).toEqual([
      [0, 300],
      [150, 450],
      [300, 600],
      [450, 750],
    ]);
    const w = report.windows[0]!;
    expect(Math.abs(w.mean_nn_ms! - 800)).toBeLessThan(2);
    expect(w.hf_ms2).toBeGreaterThan(10 * (w.lf_ms2 ?? 0));
    expect(w.peak_hf_hz).toBeCloseTo(0.25, 1);
    for (const k of ['sdnn_ms', 'rmssd_ms', 'pnn50_pct', 'hti', 'tinn_ms', 'sd1_ms', 'sampen', 'dfa_alpha1'] as const) {
      expect(w[k], k).not.toBeNull();
    }
    // The last window holds the file's tail only: fewer intervals than the full ones.
    expect(report.windows[3]!.n_nn).toBeLessThan(w.n_nn);
    expect(report.correction.n_input).toBeGreaterThan(700);
    expect(report.correction.n_excluded).toBe(0);
  });

  it('prints readable tables under 100 columns', async () => {
    const r = await runInProcess(['hrv', file('sine2.csv', sineSeries()), '--psd', 'lomb']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Time domain/);
    expect(r.stdout).toMatch(/Frequency domain/);
    expect(r.stdout).toMatch(/Nonlinear/);
    for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });

  it.skipIf(!hasSharedData())('analyses the Polar RR list of Welltory subject 1', async () => {
    if (!hasSharedData()) console.log(SHARED_DATA_SKIP_REASON);
    const r = await runInProcess(['hrv', join(SHARED_DATA_DIR, 'rr_welltory_s01.csv'), '--json', '--window-s', '0', '--correction', 'none']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as HrvReport;
    expect(report.windows).toHaveLength(1);
    // NeuroKit2 on the same Polar list: mean 1101.73 ms, RMSSD 127.0 ms (ppg_reference.json).
    expect(report.windows[0]!.n_nn).toBe(100);
    expect(report.windows[0]!.mean_nn_ms).toBeCloseTo(1101.73, 1);
    expect(report.windows[0]!.rmssd_ms).toBeCloseTo(127.0, 0);
  });
});

describe('hrvault hrv: the real binary', () => {
  beforeAll(() => undefined);
  it('exits 2 with one line and no stack trace on bad input, 0 on good input', async () => {
    const run = promisify(execFile);
    const bad = file('bad.csv', 'rr_ms\n800\nabc\n');
    const err = await run('node', ['--import', 'tsx', 'src/cli.ts', 'hrv', bad], { cwd: ROOT }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toBe(`hrvault: ${bad}:3: RR interval "abc" is not a number\n`);
    const ok = await run('node', ['--import', 'tsx', 'src/cli.ts', 'hrv', file('good.csv', sineSeries()), '--json'], { cwd: ROOT });
    expect((JSON.parse(ok.stdout) as HrvReport).windows).toHaveLength(1);
  });
});
