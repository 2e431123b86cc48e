/**
 * What the enclave writes to commit its state, per micro-batch: the journal record (incremental commit) against
 * the whole sealed state (what every micro-batch rewrote before the journal). N patients, one 10-s file each per
 * micro-batch, windows filling to 5 minutes; each result held until the next micro-batch acknowledges it, as the
 * host does. Byte counts, not times, so the figure does not depend on the machine's load.
 * Run: node --import tsx src/enclave/state-bench.ts [patients=1000] [batches=36]
 */
import { HrvAnalyser } from './analysis.js';
import { rrCsv } from '../test-support/sealed-batches.js';

const patients = Number(process.argv[2] ?? 1000);
const batches = Number(process.argv[3] ?? 36);
/** Size of one sealed result envelope as the enclave makes it for a 10-s batch (measured: 2,307 bytes). */
const RESULT_BYTES = 2307;
const SEAL = 12 + 16 + 5; // nonce, tag, magic
/** A journal record's size on disk (padding as in state-store.ts, sealing, length prefix). */
const record = (n: number): number => {
  let size = 1024;
  while (size < n + 4 && size < 65536) size *= 2;
  if (size < n + 4) size = Math.ceil((n + 4) / 65536) * 65536;
  return size + SEAL + 4;
};

const a = new HrvAnalyser({ journal: true });
let acks: { gateway: string; patient: string; seq: number }[] = [];
let journalTotal = 0;
let snapshotTotal = 0;
let snapshotBytes = 0;
let journalBytes = 0;
let checkpoints = 0;
for (let b = 1; b <= batches; b++) {
  const t0 = b * 10_000;
  for (const ack of acks) a.acknowledge(ack);
  acks = [];
  // As the enclave does: a new snapshot at the start of a micro-batch, after the acknowledgements, when the journal
  // has grown to 4 × the snapshot (at least 64 KiB).
  if (journalBytes >= 4 * Math.max(snapshotBytes, 64 * 1024)) {
    snapshotBytes = a.save().length + SEAL + 4;
    snapshotTotal += snapshotBytes;
    journalBytes = 0;
    checkpoints++;
  }
  for (let p = 0; p < patients; p++) {
    const h = { gateway: 'gw-1', patient: `p${p}`, seq: b, t_start_ms: t0, t_end_ms: t0 + 10_000 };
    a.analyse(h, rrCsv(t0, t0 + 10_000, 60 + (p % 60)).csv, 'f', 'AAAAAAAAAAAAAAAAAAAAAA==');
    a.hold(h, new Uint8Array(RESULT_BYTES));
    acks.push({ gateway: 'gw-1', patient: `p${p}`, seq: b });
  }
  const rec = record(a.takeDelta()!.length);
  journalTotal += rec;
  journalBytes += rec;
  if (b === batches) {
    const whole = a.save().length + SEAL;
    const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;
    console.log(`${patients} patients, micro-batch ${b} (windows ${Math.min(b * 10, 300)} s):`);
    console.log(`  whole sealed state, this micro-batch's results held (what every micro-batch rewrote before): ${mb(whole)}`);
    console.log(`  journal record of this micro-batch: ${mb(rec)} (of which held results ${mb(patients * RESULT_BYTES)})`);
    console.log(`  mean written per micro-batch over ${b}: journal ${mb(journalTotal / b)} + snapshots ${mb(snapshotTotal / b)} (${checkpoints} snapshots)`);
  }
}
