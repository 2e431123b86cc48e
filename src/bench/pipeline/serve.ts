/**
 * `hrvault bench serve`: the benchmark's server half in the foreground, for a load generator on another host
 * (`hrvault bench clients --target HOST:PORT --target-keys FILE`). It enrols fresh benchmark gateway identities and
 * writes their private halves, with the SFTP host key fingerprint and the attestation pins, to the target file.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeIdentities } from './identities.js';
import type { TargetFile } from './protocol.js';
import { startBenchServer } from './server.js';
import { mean, percentile, round } from './stats.js';

export interface ServeOptions {
  mode: 'secure' | 'plain';
  host: string;
  port: number;
  batchIntervalS: number;
  gateways: number;
  targetFile: string;
  dataDir?: string;
}

/** Serves until `stopped` resolves; `info` gets human lines (stderr), `out` one JSON line per micro-batch and a summary. */
export async function serveForTargets(o: ServeOptions, stopped: Promise<unknown>, info: (line: string) => void, out: (line: string) => void): Promise<void> {
  const ids = makeIdentities(o.gateways);
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), `hrvault-bench-serve-${o.mode}-`));
  const server = await startBenchServer({ mode: o.mode, host: o.host, port: o.port, batchIntervalMs: Math.round(o.batchIntervalS * 1000), dataDir, gateways: ids.server }, (b) => out(JSON.stringify(b)));
  const doc: TargetFile = { ready: server.ready, gateways: ids.generator };
  writeFileSync(o.targetFile, JSON.stringify(doc) + '\n', { mode: 0o600 });
  info(`bench server (${o.mode}) listening on ${o.host}:${server.ready.port}, ${o.batchIntervalS}-s batches, ${o.gateways} gateway identities; state in ${dataDir}`);
  info(`copy ${o.targetFile} to the client host and run there:`);
  info(`  hrvault bench clients --target <this host>:${server.ready.port} --target-keys <file> --mode ${o.mode} --batch-interval ${o.batchIntervalS} --clients …`);
  info('one JSON line per micro-batch follows on stdout; Ctrl-C stops');
  await stopped;
  const f = await server.stop();
  const ms = f.batches.map((b) => b.ms);
  out(JSON.stringify({ batches: ms.length, batch_ms_mean: round(mean(ms)), batch_ms_p99: round(percentile(ms, 99)), skipped_ticks: f.skipped_ticks, host: f.host, enclave: f.enclave }));
}
