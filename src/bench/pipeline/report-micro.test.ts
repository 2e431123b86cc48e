import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HrvaultError } from '../../errors.js';
import { hasSharedData } from '../../test-support/shared-data.js';
import { runPaillierBench } from '../access-bench.js';
import { runCryptoBench } from '../crypto-bench.js';
import { runHrvBench } from '../hrv-bench.js';
import { MICRO_COMMAND, microSection, readMicroResults, SEALING_TARGET_RATIO } from './report-micro.js';

const dir = mkdtempSync(join(tmpdir(), 'hrvault-micro-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, json: unknown): void => writeFileSync(join(dir, name), JSON.stringify(json, null, 2) + '\n');

describe('the Micro-benchmarks section', () => {
  it('says which command produces each missing JSON, with no figures', () => {
    const empty = mkdtempSync(join(tmpdir(), 'hrvault-micro-empty-'));
    try {
      const md = microSection(readMicroResults(empty), empty).join('\n');
      for (const suite of ['crypto', 'hrv', 'paillier', 'enclave']) expect(md).toContain(`\`npm run bench -- --suite ${suite}\` (or \`${MICRO_COMMAND}\`)`);
      expect(md).not.toMatch(/^\| /m);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('renders the suites’ own JSON at a tiny scale: the sealing ratio against the target, Paillier per aggregate, HRV per window', async () => {
    const crypto = runCryptoBench(() => undefined, 0.001);
    write('crypto.json', crypto);
    const paillier = await runPaillierBench({ bits: 1024, n: 4 });
    write('paillier.json', paillier);
    const withHrv = hasSharedData();
    if (withHrv) write('hrv.json', runHrvBench(() => undefined, { parts: 'micro', perFilePatients: [4] }));

    const r = readMicroResults(dir);
    expect(r.crypto?.file).toBe(join(dir, 'crypto.json'));
    const md = microSection(r, dir).join('\n');
    const ratio = crypto.ratios.v2_seal;
    expect(md).toContain(`From \`${join(dir, 'crypto.json')}\``);
    expect(md).toContain(`**Sealing over raw AES-256-GCM on the same ${crypto.file_body_bytes} bytes: ${ratio.toFixed(2)}×**`);
    expect(md).toContain(ratio <= SEALING_TARGET_RATIO ? ': **met**' : ': **missed** by');
    const rawRow = crypto.rows.find((x) => x.name.startsWith('per file, raw AES-256-GCM seal,'))!;
    expect(md).toContain(`| ${rawRow.name} | ${rawRow.cpu_us.toFixed(1)} |`);
    expect(md).toContain(`From \`${join(dir, 'paillier.json')}\``);
    expect(md).toMatch(new RegExp(`\\| aggregate of 4 ciphertexts \\(sum \\+ one decryption\\) \\| [0-9.,]+ \\|`));
    expect(paillier.paillier_aggregate_ms).toBeGreaterThan(paillier.paillier_decrypt_crt_ms);
    if (withHrv) {
      expect(md).toMatch(/\| full set, 5 min, 100 NN, welch \| [0-9.]+ \|/);
      expect(md).toMatch(/\| HRV per file, incremental .* at 4 patients \|/);
      expect(md).not.toContain('ECG detection');
    }
    // No enclave JSON here: the section names the command instead of a table.
    expect(md).toContain('`npm run bench -- --suite enclave`');
  }, 120_000);

  it('refuses a file that is not the suite’s output, naming it', () => {
    const bad = mkdtempSync(join(tmpdir(), 'hrvault-micro-bad-'));
    try {
      // An access.json from before it carried the aggregate's figures is passed over: Paillier counts as missing.
      writeFileSync(join(bad, 'access.json'), JSON.stringify({ paillier_bits: 2048, login_p50_ms: 40 }));
      expect(readMicroResults(bad).paillier).toBeUndefined();
      writeFileSync(join(bad, 'enclave.json'), JSON.stringify({ sizes: 'no' }));
      expect(() => readMicroResults(bad)).toThrow(HrvaultError);
      expect(() => readMicroResults(bad)).toThrow(/enclave\.json is not the enclave suite's output/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
