/**
 * The "Micro-benchmarks" section of docs/benchmarks.md, from the JSON the micro suites wrote under bench-results/
 * (`npm run bench -- --suite micro`): sealing per file against raw AES-256-GCM on the same bytes, HRV per window
 * and per file, Paillier per aggregate, the enclave boundary per micro-batch. A file that is missing is named with
 * the command that produces it; nothing is filled in without it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { HrvaultError } from '../../errors.js';

/** The issue's target for sealing: at most this many times raw AES-256-GCM on the same bytes. */
export const SEALING_TARGET_RATIO = 2;

const cryptoSchema = z.object({
  node: z.string(),
  cpus: z.number(),
  load1: z.number(),
  file_body_bytes: z.number(),
  rows: z.array(z.object({ name: z.string(), cpu_us: z.number(), calls: z.number() })),
  ratios: z.object({ v2_seal: z.number(), v2_seal_open: z.number(), v1_seal_open: z.number() }),
});

const hrvSchema = z.object({
  node: z.string(),
  cpus: z.number(),
  load_before: z.number(),
  rows: z.array(z.object({ name: z.string(), median_ms: z.number(), p90_ms: z.number(), min_ms: z.number(), runs: z.number(), target_ms: z.number().optional(), note: z.string().optional() })),
});

const paillierSchema = z.object({
  paillier_bits: z.number(),
  paillier_keygen_ms: z.number(),
  paillier_encrypt_pooled_ms: z.number(),
  paillier_randomness_crt_ms: z.number(),
  paillier_add_per_ct_ms: z.number(),
  paillier_decrypt_crt_ms: z.number(),
  paillier_aggregate_cts: z.number(),
  paillier_aggregate_ms: z.number(),
});

const pathSchema = z.object({ batch_ms: z.number(), batch_ms_mean: z.number(), cpu_ms: z.number(), file_us: z.number(), cpu_file_us: z.number() });
const enclaveSchema = z.object({
  node: z.string(),
  cpus: z.number(),
  load1: z.number(),
  file_bytes: z.number(),
  file_span_ms: z.number(),
  sizes: z.array(
    z.object({
      files: z.number(),
      warmup_batches: z.number(),
      batches: z.number(),
      enclave_process: pathSchema,
      in_process_core: pathSchema,
      in_process_core_tmpfs: pathSchema.optional(),
      plain: pathSchema,
      ipc_ms: z.number(),
      ipc_cpu_ms: z.number(),
      commit_wait_ms: z.number().nullable(),
      security_ms: z.number(),
    }),
  ),
  skipped: z.array(z.object({ files: z.number(), reason: z.string() })),
});

/** What the section is drawn from: each suite's figures (as far as the report reads them) and the file they came from. */
export interface MicroResults {
  crypto?: { data: z.infer<typeof cryptoSchema>; file: string };
  hrv?: { data: z.infer<typeof hrvSchema>; file: string };
  paillier?: { data: z.infer<typeof paillierSchema>; file: string };
  enclave?: { data: z.infer<typeof enclaveSchema>; file: string };
}

/** The command that regenerates every JSON the section reads. */
export const MICRO_COMMAND = 'npm run bench -- --suite micro --enclave-budget 200';

/** Each figure's file under `dir` (first found wins: the access suite's JSON holds the Paillier figures too) and its own suite. */
const SOURCES = {
  crypto: { files: ['crypto.json'], suite: 'crypto', schema: cryptoSchema },
  hrv: { files: ['hrv.json'], suite: 'hrv', schema: hrvSchema },
  paillier: { files: ['paillier.json', 'access.json'], suite: 'paillier', schema: paillierSchema },
  enclave: { files: ['enclave.json'], suite: 'enclave', schema: enclaveSchema },
} as const;

/**
 * Reads the micro suites' JSON from `dir` (names in the result as `dir`/file); throws HRV_ERR_USAGE for a suite's own
 * file that does not parse as its output. A fallback file (access.json for the Paillier figures) written before it
 * carried them is passed over instead.
 */
export function readMicroResults(dir: string): MicroResults {
  const out: MicroResults = {};
  for (const [key, src] of Object.entries(SOURCES) as [keyof MicroResults, (typeof SOURCES)[keyof MicroResults]][]) {
    for (const [i, name] of src.files.entries()) {
      const file = join(dir, name);
      if (!existsSync(file)) continue;
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new HrvaultError('HRV_ERR_USAGE', `bench report: ${file}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const parsed = src.schema.safeParse(doc);
      if (parsed.success) {
        (out as Record<string, unknown>)[key] = { data: parsed.data, file };
        break;
      }
      if (i === 0) throw new HrvaultError('HRV_ERR_USAGE', `bench report: ${file} is not the ${src.suite} suite's output: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
    }
  }
  return out;
}

const f = (v: number, d = 1): string => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
/** ms with enough digits for sub-millisecond figures. */
const ms = (v: number): string => (v >= 100 ? f(v, 0) : v >= 1 ? f(v, 2) : v.toPrecision(2));

function missing(what: string, key: keyof typeof SOURCES, dir: string): string[] {
  const src = SOURCES[key];
  return [`No ${src.files.map((x) => `\`${join(dir, x)}\``).join(' or ')} yet: \`npm run bench -- --suite ${src.suite}\` (or \`${MICRO_COMMAND}\`) produces the ${what} figures.`, ''];
}

function sealing(r: MicroResults['crypto'], dir: string): string[] {
  const lines = ['### Sealing per file against raw AES-256-GCM', ''];
  if (!r) return [...lines, ...missing('sealing', 'crypto', dir)];
  const d = r.data;
  const v2 = d.ratios.v2_seal;
  const verdict = v2 <= SEALING_TARGET_RATIO ? `**met**` : `**missed** by ${f(((v2 - SEALING_TARGET_RATIO) / SEALING_TARGET_RATIO) * 100, 0)}%`;
  lines.push(
    `From \`${r.file}\` (node ${d.node}, ${d.cpus} CPUs, 1-min load ${d.load1} when it ran). CPU time per call (process.cpuUsage, median of the suite's repeats), one ${d.file_body_bytes}-byte batch-file body.`,
    '',
    '| case | CPU µs per call |',
    '| --- | ---: |',
    ...d.rows.filter((x) => /^per (file|epoch)/.test(x.name)).map((x) => `| ${x.name} | ${f(x.cpu_us)} |`),
    '',
    `**Sealing over raw AES-256-GCM on the same ${d.file_body_bytes} bytes: ${f(v2, 2)}×** (version-2 epoch envelope, seal alone) against the target of at most ${SEALING_TARGET_RATIO}×: ${verdict}. Seal + open ${f(d.ratios.v2_seal_open, 2)}×; the version-1 envelope it replaced (HPKE + Ed25519 per file), seal + open ${f(d.ratios.v1_seal_open, 2)}×.`,
    '',
  );
  return lines;
}

function hrv(r: MicroResults['hrv'], dir: string): string[] {
  const lines = ['### HRV per window and per file', ''];
  if (!r) return [...lines, ...missing('HRV', 'hrv', dir)];
  const d = r.data;
  const rows = d.rows.filter((x) => /5 min|5-min window|HRV per file/.test(x.name));
  lines.push(
    `From \`${r.file}\` (node ${d.node}, ${d.cpus} CPUs, 1-min load ${f(d.load_before)} when it ran). Wall time per call, ms: median, 90th percentile and fastest of the runs (the per-file rows: mean over one measure cadence cycle, see the note).`,
    '',
    '| case | median ms | p90 ms | min ms | runs | target ms | note |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map((x) => `| ${x.name} | ${ms(x.median_ms)} | ${ms(x.p90_ms)} | ${ms(x.min_ms)} | ${x.runs} | ${x.target_ms === undefined ? '' : ms(x.target_ms)} | ${x.note ?? ''} |`),
    '',
  );
  if (rows.length === 0) lines.push(`(\`${r.file}\` holds no per-window or per-file rows.)`, '');
  return lines;
}

function paillier(r: MicroResults['paillier'], dir: string): string[] {
  const lines = ['### Paillier per aggregate', ''];
  if (!r) return [...lines, ...missing('Paillier', 'paillier', dir)];
  const d = r.data;
  lines.push(
    `From \`${r.file}\`. Wall time, ${d.paillier_bits}-bit modulus; an aggregate is the homomorphic sum of the matching records' ciphertexts, then one decryption of the packed slots.`,
    '',
    '| operation | ms |',
    '| --- | ---: |',
    `| aggregate of ${d.paillier_aggregate_cts} ciphertexts (sum + one decryption) | ${ms(d.paillier_aggregate_ms)} |`,
    `| homomorphic addition, per ciphertext | ${ms(d.paillier_add_per_ct_ms)} |`,
    `| decryption (CRT), per aggregate | ${ms(d.paillier_decrypt_crt_ms)} |`,
    `| encryption from the pooled randomness, per record | ${ms(d.paillier_encrypt_pooled_ms)} |`,
    `| randomness (CRT), per record | ${ms(d.paillier_randomness_crt_ms)} |`,
    `| key generation, once | ${ms(d.paillier_keygen_ms)} |`,
    '',
  );
  return lines;
}

function enclave(r: MicroResults['enclave'], dir: string): string[] {
  const lines = ['### Enclave boundary per micro-batch', ''];
  if (!r) return [...lines, ...missing('enclave boundary', 'enclave', dir)];
  const d = r.data;
  lines.push(
    `From \`${r.file}\` (node ${d.node}, ${d.cpus} CPUs, 1-min load ${d.load1} when it ran). One micro-batch of N version-2 files (one per patient, ${d.file_span_ms / 1000}-s batches, ${d.file_bytes} bytes each, sealed by the gateway's own code): through the enclave child process (IPC both ways, then EnclaveCore), the same EnclaveCore in-process, that core with its state on tmpfs, and plain in-host analysis. Median wall time per batch over the batches measured (one measure cadence cycle, after warm-up batches totalling at least 1,000 files per path, so each patient's window holds that many batches more at the smaller sizes), their mean, and CPU time (host, plus the enclave child's from /proc at 10-ms resolution).`,
    '',
    '| files per batch | path | ms per batch (median / mean) | µs per file | CPU ms per batch | CPU µs per file |',
    '| ---: | --- | ---: | ---: | ---: | ---: |',
  );
  for (const s of d.sizes) {
    const paths = [
      ['enclave child process (IPC + core)', s.enclave_process],
      ['EnclaveCore in-process', s.in_process_core],
      ['EnclaveCore in-process, state on tmpfs', s.in_process_core_tmpfs],
      ['plain, in-host HrvAnalyser', s.plain],
    ] as const;
    for (const [name, p] of paths) if (p) lines.push(`| ${s.files.toLocaleString('en-US')} | ${name} | ${ms(p.batch_ms)} / ${ms(p.batch_ms_mean)} | ${f(p.file_us)} | ${ms(p.cpu_ms)} | ${f(p.cpu_file_us)} |`);
  }
  lines.push(
    '',
    'Where the time goes (medians over the batches of per-batch differences; a negative figure is below the noise):',
    '',
    '| files per batch | IPC + serialisation, ms (µs per file) | its CPU, ms | commit wait (fdatasync), ms | open + seal + commit over plain, ms (µs per file) |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...d.sizes.map((s) => `| ${s.files.toLocaleString('en-US')} | ${ms(s.ipc_ms)} (${f((s.ipc_ms * 1000) / s.files)}) | ${ms(s.ipc_cpu_ms)} | ${s.commit_wait_ms === null ? '–' : ms(s.commit_wait_ms)} | ${ms(s.security_ms)} (${f((s.security_ms * 1000) / s.files)}) |`),
    '',
    ...d.skipped.map((k) => `- ${k.files.toLocaleString('en-US')} files per batch not measured: ${k.reason}.`),
    ...(d.skipped.length ? [''] : []),
  );
  return lines;
}

/** The section's Markdown lines; `dir` is where the JSON was looked for (named in the missing-file lines). */
export function microSection(r: MicroResults, dir: string): string[] {
  return [
    '## Micro-benchmarks',
    '',
    'What one file, one window, one aggregate and one micro-batch cost, measured apart from the pipeline. Reproduce every table below with:',
    '',
    '```sh',
    `${MICRO_COMMAND}   # writes bench-results/crypto.json, hrv.json, enclave.json, paillier.json`,
    'hrvault bench report',
    '```',
    '',
    ...sealing(r.crypto, dir),
    ...hrv(r.hrv, dir),
    ...paillier(r.paillier, dir),
    ...enclave(r.enclave, dir),
  ];
}
