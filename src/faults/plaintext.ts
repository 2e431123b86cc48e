/**
 * (I2) nothing readable on the untrusted host: the cloud's directory and everything the cloud process (and its
 * enclave child, which shares its stderr) wrote to its logs, scanned for the run's own plaintext — the
 * `time_ms,rr_ms` lines the sensors produced, runs of three consecutive RR values as a list, the CSV header,
 * the real patient ids. The time range in a file's header is plaintext by design (AAD), so times alone are not a finding.
 */
import { readdirSync, readFileSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import type { SensorBeat } from './checker.js';

/**
 * Every regular file under `dir`, recursively. A running NATS node creates and removes files and directories while
 * this walks (readdirSync's own recursion then fails with ENOENT): what vanished meanwhile is skipped.
 */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The file's bytes as text, or '' when it was removed since the listing. */
function readIfThere(p: string): string {
  try {
    return readFileSync(p).toString('latin1');
  } catch {
    return '';
  }
}

/**
 * A patient id as text would hold it (JSON, logs, CSV, paths): not inside a longer word, and between printable ASCII
 * or line breaks. The stores scanned hold tens of megabytes of ciphertext (files read as latin1, so every byte is one
 * character), in which a 5-character id turns up by chance about once in a few thousand runs: one did, inside a sealed
 * state piece replicated on two NATS nodes (`…\x12\xe9\rP0003\xf5\xf5…`). A neighbour of 0x80 or above, or another
 * control byte, is such ciphertext, never the text a leak would be.
 */
function idPattern(id: string): RegExp {
  const escaped = id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `(?:^|[\\t\\n\\r\\x20-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e])${escaped}(?:$|[\\t\\n\\r\\x20-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e])`,
  );
}

/** Findings of the run's plaintext in `texts` (name → content). */
export function plaintextFindings(
  texts: Iterable<[string, string]>,
  expected: ReadonlyMap<string, readonly SensorBeat[]>,
): string[] {
  const lines = new Set<string>();
  const triples = new Set<string>();
  for (const beats of expected.values()) {
    for (let i = 0; i < beats.length; i++) {
      lines.add(`${beats[i]!.tMs},${beats[i]!.rrMs}`);
      if (i >= 2) triples.add(`${beats[i - 2]!.rrMs},${beats[i - 1]!.rrMs},${beats[i]!.rrMs}`);
    }
  }
  const findings: string[] = [];
  for (const [name, text] of texts) {
    for (const m of text.matchAll(/\d{10,},\d{3,4}\b/g))
      if (lines.has(m[0])) findings.push(`${name}: CSV line ${m[0]}`);
    for (const m of text.matchAll(/(?<![\d.])\d{3,4}[,\n ]\s*\d{3,4}[,\n ]\s*\d{3,4}(?![\d.])/g)) {
      const t = m[0].split(/[,\n ]\s*/).join(',');
      if (triples.has(t)) findings.push(`${name}: RR run ${t}`);
    }
    if (text.includes('time_ms,rr_ms')) findings.push(`${name}: CSV header`);
    for (const p of expected.keys()) if (idPattern(p).test(text)) findings.push(`${name}: patient id ${p}`);
  }
  return findings;
}

/**
 * I2 over the stack's untrusted directories (`untrustedDirs()`, else the host's alone), its NATS nodes' store
 * directories (`natsStoreDirs()`) and the logs of every cloud and JetStream worker process it ran (runs named
 * `cloud`, `worker<i>`).
 */
export function scanHost(
  stack: {
    cloudDir: string;
    untrustedDirs?: () => string[];
    natsStoreDirs?: () => string[];
    runs: { name: string; proc: { stdout(): string; stderr(): string } }[];
    expected(durationS: number): Map<string, SensorBeat[]>;
  },
  durationS: number,
): string[] {
  const expected = stack.expected(durationS);
  const read = (dirs: string[]): [string, string][] =>
    dirs.flatMap((d) => filesUnder(d)).map((f) => [f, readIfThere(f)]);
  const texts = read(stack.untrustedDirs?.() ?? [stack.cloudDir]);
  stack.runs.forEach((r, i) => {
    if (r.name === 'cloud' || /^worker\d+$/.test(r.name))
      texts.push([`${r.name} run ${i} log`, `${r.proc.stdout()}\n${r.proc.stderr()}`]);
  });
  // A NATS stream snapshot lists the removed message sequence numbers as JSON (`"deleted":[343,345,346,…]`): sorted
  // integers, whose runs can equal RR runs by chance. The list is the server's bookkeeping, so it is left out.
  const nats = read(stack.natsStoreDirs?.() ?? []).map(([f, t]): [string, string] => [
    f,
    t.replace(/"deleted":\[[\d,]*\]/g, '"deleted":[]'),
  ]);
  return plaintextFindings([...texts, ...nats], expected);
}
