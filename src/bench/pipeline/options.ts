/** The options of `hrvault bench clients|load`, validated once: a bad value fails fast with a message naming it. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { HrvaultError } from '../../errors.js';
import { targetFileSchema, type TargetFile } from './protocol.js';

const cpuList = z.string().regex(/^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$/, 'must be a CPU list such as 0, 1 or 0-1');

export const benchOptionsSchema = z
  .strictObject({
    kind: z.enum(['clients', 'load']),
    modes: z.array(z.enum(['secure', 'plain'])).min(1),
    clients: z.array(z.number().int('must be whole numbers').positive().max(1_000_000)).min(1, 'needs at least one value'),
    /** Beats per second of each client: one value for `clients`, the values swept for `load`. */
    rates: z.array(z.number().positive().max(1_000_000)).min(1, 'needs at least one value'),
    batchIntervalS: z.number().min(0.2, 'must be at least 0.2 s').max(3600),
    durationS: z.number().positive().max(86_400),
    search: z.boolean(),
    quick: z.boolean(),
    json: z.boolean(),
    serverCpus: cpuList.optional(),
    clientCpus: cpuList.optional(),
    clientsPerGateway: z.number().int().min(1).max(10_000),
    target: z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }).optional(),
    targetKeys: z.string().min(1).optional(),
    outDir: z.string().min(1),
    /** Directory for V8 CPU profiles of every process of every point (they slow the point down: not for figures). */
    cpuProf: z.string().min(1).optional(),
    /** JetStream mode (issue 11): the NATS server the host publishes to and the workers consume from. */
    jetstream: z.string().regex(/^(?:nats|tls):\/\/[^\s,]+$/, 'must be one nats:// (or tls://) URL').optional(),
    /** Worker counts measured, each a point of its own; 0 = the embedded secure mode (no NATS), for comparison. */
    workers: z.array(z.number().int('must be whole numbers').min(0).max(8, 'at most 8 workers')).min(1, 'needs at least one value').optional(),
    /** taskset CPU list of every worker process (and its enclave child); default: the server's. */
    workerCpus: cpuList.optional(),
  })
  .superRefine((o, ctx) => {
    if (o.durationS < o.batchIntervalS) ctx.addIssue({ code: 'custom', path: ['durationS'], message: `--duration (${o.durationS} s) must be at least one --batch-interval (${o.batchIntervalS} s)` });
    if (o.kind === 'clients' && o.rates.length !== 1) ctx.addIssue({ code: 'custom', path: ['rates'], message: 'bench clients takes one --rate (bench load sweeps rates)' });
    if ((o.target === undefined) !== (o.targetKeys === undefined)) ctx.addIssue({ code: 'custom', path: ['target'], message: '--target HOST:PORT and --target-keys FILE go together' });
    if (o.target && o.cpuProf !== undefined) ctx.addIssue({ code: 'custom', path: ['cpuProf'], message: '--cpu-prof profiles the local server; with --target profile the server on its own host' });
    if (o.target && o.modes.length !== 1) ctx.addIssue({ code: 'custom', path: ['modes'], message: 'with --target, --mode is the one mode the target serves (secure or plain)' });
    if (o.jetstream === undefined) {
      if (o.workers !== undefined) ctx.addIssue({ code: 'custom', path: ['workers'], message: '--workers needs --jetstream nats://HOST:PORT (the embedded mode has one enclave)' });
      if (o.workerCpus !== undefined) ctx.addIssue({ code: 'custom', path: ['workerCpus'], message: '--worker-cpus needs --jetstream nats://HOST:PORT' });
    } else {
      if (o.modes.some((m) => m !== 'secure')) ctx.addIssue({ code: 'custom', path: ['modes'], message: '--jetstream measures secure mode only (the workers are enclaves): --mode secure' });
      if (o.target) ctx.addIssue({ code: 'custom', path: ['target'], message: '--jetstream runs host and workers here; it does not combine with --target' });
      if (o.cpuProf !== undefined) ctx.addIssue({ code: 'custom', path: ['cpuProf'], message: '--cpu-prof does not profile JetStream workers; profile the embedded mode' });
      if (o.workers !== undefined && new Set(o.workers).size !== o.workers.length) ctx.addIssue({ code: 'custom', path: ['workers'], message: 'each worker count once' });
    }
  });
export type BenchOptions = z.infer<typeof benchOptionsSchema>;

/** Parses `100,1000,5000` into numbers; throws HRV_ERR_USAGE naming the option and the bad item. */
export function parseList(option: string, text: string): number[] {
  return text.split(',').map((item) => {
    const n = Number(item.trim());
    if (item.trim() === '' || !Number.isFinite(n)) throw new HrvaultError('HRV_ERR_USAGE', `${option}: "${item}" is not a number (expected a comma-separated list such as 100,1000)`);
    return n;
  });
}

/** Parses `host:port` (IPv6 in brackets); throws HRV_ERR_USAGE. */
export function parseTarget(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new HrvaultError('HRV_ERR_USAGE', `--target: "${text}" is not HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Validates assembled options; throws HRV_ERR_USAGE naming the first bad one. */
export function validateBenchOptions(raw: unknown): BenchOptions {
  const r = benchOptionsSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new HrvaultError('HRV_ERR_USAGE', `bench: ${issue.path.join('.') || 'options'}: ${issue.message}`);
  }
  return r.data;
}

/** Reads the file `hrvault bench serve` wrote; throws HRV_ERR_USAGE naming the problem. */
export function readTargetFile(file: string): TargetFile {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new HrvaultError('HRV_ERR_USAGE', `--target-keys ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const r = targetFileSchema.safeParse(doc);
  if (!r.success) throw new HrvaultError('HRV_ERR_USAGE', `--target-keys ${file}: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`);
  return r.data;
}
