import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SHARED_DATA_DIR, SHARED_DATA_SKIP_REASON, hasSharedData, readBeats } from '../test-support/shared-data.js';
import { runInProcess } from './cli-harness.js';
import type { DetectReport } from './detect.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hrvault-detect-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('hrvault detect: bad input', () => {
  const cases: Array<[string, () => string[], RegExp]> = [
    ['missing file', () => ['detect', join(dir, 'nope.csv'), '--fs', '360'], /nope\.csv: no such file$/],
    ['empty file', () => ['detect', file('empty.csv', ''), '--fs', '360'], /empty\.csv: is empty$/],
    ['non-numeric sample', () => ['detect', file('nan.csv', 't_s,mV\n0,0.1\n0.01,zz\n')], /nan\.csv:3: signal value "zz" is not a number$/],
    ['times backwards', () => ['detect', file('back.csv', 't_s,mV\n0,0.1\n0.01,0.2\n0.005,0.1\n')], /back\.csv:4: sample time 0\.005 goes backwards/],
    ['no sampling rate', () => ['detect', file('nofs.csv', '0.1\n0.2\n0.3\n')], /nofs\.csv: no sampling rate: give --fs HZ/],
    ['rate out of range', () => ['detect', file('short.csv', '0.1\n0.2\n0.3\n'), '--fs', '50'], /short\.csv: .*sampling rate/i],
  ];
  for (const [name, argv, message] of cases) {
    it(name, async () => {
      const r = await runInProcess(argv());
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(new RegExp(`^hrvault: \\S*${message.source}`, message.flags));
    });
  }

  it('rejects bad option values with one hrvault: line naming the option', async () => {
    const p = file('ok.csv', '0.1\n0.2\n');
    for (const args of [['--fs', '0'], ['--fs', 'abc'], ['--fs', '1e999'], ['--signal', 'eeg']]) {
      const r = await runInProcess(['detect', p, '--fs', '360', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^hrvault: ${args[0]}: `));
    }
  });

  it('refuses --fs that contradicts the t_s column', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => `${(i / 250).toFixed(4)},${Math.sin(i / 5).toFixed(4)}`);
    const p = file('fs250.csv', 't_s,mV\n' + rows.join('\n') + '\n');
    const r = await runInProcess(['detect', p, '--fs', '360']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(/^hrvault: \S*fs250\.csv: --fs 360 Hz contradicts the time column \(250 Hz\)/);
  });

  it("refuses --fs that contradicts the file's stated sampling rate", async () => {
    const rows = Array.from({ length: 100 }, (_, i) => Math.sin(i / 5).toFixed(4));
    const p = file('stated.csv', '# sampling_rate_hz: 360\n' + rows.join('\n') + '\n');
    const r = await runInProcess(['detect', p, '--fs', '250']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(/^hrvault: \S*stated\.csv: --fs 250 Hz contradicts the file's stated sampling rate \(360 Hz\)/);
  });

  it('refuses a sample of 1e200 naming the line instead of reporting 0 beats', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => `${(i / 360).toFixed(5)},${i === 1000 ? '1e200' : Math.sin(i / 5).toFixed(4)}`);
    const p = file('huge.csv', 't_s,mV\n' + rows.join('\n') + '\n');
    const r = await runInProcess(['detect', p, '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(/^hrvault: \S*huge\.csv:1002: signal value 1e200 is absurd/);
  });
});

describe.skipIf(!hasSharedData())('hrvault detect: MIT-BIH record 100', () => {
  if (!hasSharedData()) console.log(SHARED_DATA_SKIP_REASON);
  it('finds the annotated beats with one label per beat and n−1 intervals', async () => {
    const r = await runInProcess(['detect', join(SHARED_DATA_DIR, 'ecg_100.csv.gz'), '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as DetectReport;
    expect(report.fs).toBe(360);
    const annotated = readBeats('100');
    expect(Math.abs(report.beats_s.length - annotated.length)).toBeLessThanOrEqual(3);
    expect(report.labels).toHaveLength(report.beats_s.length);
    expect(report.rr_ms).toHaveLength(report.beats_s.length - 1);
    // Record 100 holds one PVC among 2273 beats.
    expect(report.labels.filter((l) => l === 'V').length).toBeLessThanOrEqual(3);
    const meanRr = report.rr_ms.reduce((a, b) => a + b, 0) / report.rr_ms.length;
    expect(meanRr).toBeGreaterThan(780);
    expect(meanRr).toBeLessThan(810);
  });
});

describe.skipIf(!hasSharedData())('hrvault detect --signal ppg: Welltory camera PPG', () => {
  it('takes the rate from the irregular frame times and labels every pulse N', async () => {
    const r = await runInProcess(['detect', join(SHARED_DATA_DIR, 'ppg_welltory_s01.csv'), '--signal', 'ppg', '--column', 'R', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as DetectReport;
    expect(report.fs).toBeGreaterThan(25);
    expect(report.fs).toBeLessThan(35);
    expect(report.labels.every((l) => l === 'N')).toBe(true);
    expect(report.labels).toHaveLength(report.beats_s.length);
    // The Polar H10 worn at the same time: 100 intervals, mean 1101.7 ms (ppg_reference.json).
    const meanRr = report.rr_ms.reduce((a, b) => a + b, 0) / report.rr_ms.length;
    expect(Math.abs(meanRr - 1101.7) / 1101.7).toBeLessThan(0.03);
  });

  it('--column auto picks a colour channel that carries the pulse', async () => {
    const r = await runInProcess(['detect', join(SHARED_DATA_DIR, 'ppg_welltory_s05.csv'), '--signal', 'ppg', '--column', 'auto', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as DetectReport;
    // Polar H10 at the same time: mean 816.6 ms.
    const meanRr = report.rr_ms.reduce((a, b) => a + b, 0) / report.rr_ms.length;
    expect(Math.abs(meanRr - 816.6) / 816.6).toBeLessThan(0.03);
    const ecg = await runInProcess(['detect', join(SHARED_DATA_DIR, 'ppg_welltory_s05.csv'), '--column', 'auto']);
    expect(ecg.code).toBe(2);
    expect(ecg.stderr).toMatch(/use it with --signal ppg/);
  });

  it('names the missing column', async () => {
    const r = await runInProcess(['detect', join(SHARED_DATA_DIR, 'ppg_welltory_s01.csv'), '--signal', 'ppg', '--column', 'IR']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ppg_welltory_s01\.csv:\d+: no column named "IR" \(columns: t_s, R, G, B\)/);
  });
});

describe.skipIf(!hasSharedData())('hrvault detect: decimal commas', () => {
  it('finds the same beats in the first minute of 119 written with semicolons and decimal commas', async () => {
    const text = gunzipSync(readFileSync(join(SHARED_DATA_DIR, 'ecg_119.csv.gz'))).toString('utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    const data = lines.filter((l) => /^\d/.test(l)).slice(0, 360 * 60);
    const head = lines.filter((l) => !/^\d/.test(l));
    const dot = file('e119.csv', [...head, ...data].join('\n') + '\n');
    const semi = (l: string) => (l.startsWith('#') ? l : l.split(',').map((f) => f.replace('.', ',')).join(';'));
    const comma = file('e119c.csv', [...head, ...data].map(semi).join('\n') + '\n');
    const a = JSON.parse((await runInProcess(['detect', dot, '--json'])).stdout) as DetectReport;
    const r = await runInProcess(['detect', comma, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const b = JSON.parse(r.stdout) as DetectReport;
    expect(b.beats_s).toEqual(a.beats_s);
  }, 60_000);
});

describe.skipIf(!hasSharedData())('hrvault detect: rhythm', () => {
  it('reports suspected AF with its irregularity on record 203 (AF) and not on 119 (bigeminy)', async () => {
    const af = JSON.parse((await runInProcess(['detect', join(SHARED_DATA_DIR, 'ecg_203.csv.gz'), '--json'])).stdout) as DetectReport;
    expect(af.rhythm.af_suspected).toBe(true);
    expect(af.rhythm.irregularity!).toBeGreaterThan(af.rhythm.irregularity_threshold);
    const big = JSON.parse((await runInProcess(['detect', join(SHARED_DATA_DIR, 'ecg_119.csv.gz'), '--json'])).stdout) as DetectReport;
    expect(big.rhythm.af_suspected).toBe(false);
    expect(big.rhythm.irregularity!).toBeLessThan(big.rhythm.irregularity_threshold);
  }, 60_000);
});

describe('hrvault detect: the real binary', () => {
  it('prints beats of a synthetic ECG given --fs and exits 2 on a bad sample', async () => {
    const fs = 250;
    const lines: string[] = [];
    for (let i = 0; i < fs * 10; i++) {
      const phase = (i / fs) % 0.8;
      lines.push((Math.exp(-(((phase - 0.4) / 0.012) ** 2)) + 0.02 * Math.sin(i / 7)).toFixed(5));
    }
    const run = promisify(execFile);
    const ok = await run('node', ['--import', 'tsx', 'src/cli.ts', 'detect', file('synth.csv', lines.join('\n')), '--fs', String(fs), '--json'], { cwd: ROOT });
    const report = JSON.parse(ok.stdout) as DetectReport;
    expect(report.beats_s.length).toBeGreaterThanOrEqual(11);
    expect(report.beats_s.length).toBeLessThanOrEqual(13);
    for (const rr of report.rr_ms) expect(Math.abs(rr - 800)).toBeLessThan(10);
    const bad = file('bad.csv', '0.1\n0.2\nnope\n');
    const err = await run('node', ['--import', 'tsx', 'src/cli.ts', 'detect', bad, '--fs', '360'], { cwd: ROOT }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toBe(`hrvault: ${bad}:3: signal value "nope" is not a number\n`);
  });
});
