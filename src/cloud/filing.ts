/**
 * Filing a micro-batch's inputs away, cheaply and crash-safely. Once the result bundles are durable, the host
 * writes ONE "done" manifest for the micro-batch (temp, fdatasync, rename, directory fsync): the inputs it names are
 * settled (their results are durable, or they are to be quarantined). The per-input renames to `store/` (or to
 * `quarantine/`) then run after the micro-batch, off its critical path and with no flush per input; the inbox and
 * store directories are flushed once per gateway, and only then is the manifest deleted. A host that crashes
 * before that finds the manifest at start-up and finishes the filing without handing those inputs to the enclave
 * again, and re-sends the acknowledgements of their results (lost with the process).
 *
 * The manifest lives under `cloud/filing/`, written and read by the host only; it names files and counts, never a
 * value (what the host sees anyway).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { fsyncDirAsync, writeFileDurableAsync } from '../durable-file.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { ResultAck } from '../enclave/index.js';
import { FILE_NAME } from './paths.js';
import { areaDir } from './sftp-server.js';

/** An input whose micro-batch is committed: filed to the store, or quarantined with `reject`. */
export interface DoneInput {
  gateway: string;
  name: string;
  /** First 32 hex digits of the input's SHA-256: a later file under the same name is not taken for it. */
  digest: string;
  reject?: { code: ErrorCode; reason: string };
}

/** One micro-batch's committed inputs and the acknowledgements owed to the enclave for its results. */
export interface DoneManifest {
  v: 1;
  inputs: DoneInput[];
  acks: ResultAck[];
}

const gatewayId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const manifestSchema = z.strictObject({
  v: z.literal(1),
  inputs: z.array(
    z.strictObject({
      gateway: gatewayId,
      name: z.string().regex(FILE_NAME),
      digest: z.string().regex(/^[0-9a-f]{32}$/),
      reject: z.strictObject({ code: z.string().refine((c) => c in ERROR_CODES, 'unknown error code'), reason: z.string() }).optional(),
    }),
  ),
  acks: z.array(z.strictObject({ gateway: gatewayId, patient: z.string().min(1).max(64), seq: z.number().int().min(0) })),
});

const MANIFEST_NAME = /^done-\d{1,15}-[0-9a-f]{16}\.json$/;

/** The digest a manifest records for an input's bytes. */
export function inputTag(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/** The directory of done manifests under the host's data directory. */
export function filingDir(root: string): string {
  return join(root, 'filing');
}

/** Commit point C3: writes the micro-batch's done manifest durably (one fdatasync, one directory fsync); returns its path. */
export async function writeDoneManifest(root: string, manifest: DoneManifest, id: string): Promise<string> {
  const file = join(filingDir(root), `done-${id}.json`);
  await writeFileDurableAsync(file, JSON.stringify(manifest), { dataOnly: true });
  return file;
}

/** What filing one manifest did. */
export interface FilingResult {
  stored: number;
  quarantined: number;
  /** Named inputs no longer in the inbox (filed before a crash, or taken back by their gateway). */
  gone: number;
  /** Inputs under a named file whose bytes differ from the digest: left in the inbox for a micro-batch. */
  changed: number;
}

/**
 * Files a manifest's inputs away (store or quarantine), flushes each touched inbox, store and quarantine directory
 * once, then deletes the manifest. `checkDigest`: compare each input's bytes with its digest first (at start-up,
 * when the inbox may hold a newer upload under the name; during a run the scheduler knows it is the same file).
 */
export async function fileAway(root: string, manifestFile: string, manifest: DoneManifest, checkDigest: boolean): Promise<FilingResult> {
  const out: FilingResult = { stored: 0, quarantined: 0, gone: 0, changed: 0 };
  const dirs = new Set<string>();
  const now = Date.now();
  await Promise.all(
    manifest.inputs.map(async (f) => {
      const from = join(areaDir(root, f.gateway, 'inbox'), f.name);
      if (checkDigest) {
        const bytes = await readFile(from).catch(() => undefined);
        if (bytes === undefined) {
          out.gone++;
          return;
        }
        if (inputTag(bytes) !== f.digest) {
          out.changed++;
          return;
        }
      }
      const toDir = f.reject ? join(root, 'quarantine', f.gateway) : join(root, 'store', f.gateway);
      const base = f.reject ? `${now}-${f.name}` : f.name;
      try {
        await rename(from, join(toDir, base));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        out.gone++;
        return;
      }
      dirs.add(areaDir(root, f.gateway, 'inbox')).add(toDir);
      if (f.reject) {
        await writeQuarantineReason(toDir, base, f.gateway, f.name, f.reject, now);
        out.quarantined++;
      } else out.stored++;
    }),
  );
  // The renames are durable before the manifest goes: a crash in between files again what is still in the inbox.
  await Promise.all([...dirs].map((d) => fsyncDirAsync(d)));
  await unlink(manifestFile);
  return out;
}

/** Writes the reason file beside a quarantined input (`<base>.reason.json`: names and codes, never a value). */
async function writeQuarantineReason(dir: string, base: string, gateway: string, name: string, reject: { code: ErrorCode; reason: string }, now: number): Promise<void> {
  await writeFile(join(dir, `${base}.reason.json`), JSON.stringify({ gateway, name, code: reject.code, reason: reject.reason, at: new Date(now).toISOString() }) + '\n');
}

/**
 * Moves an input already filed to `store/<gateway>/` into quarantine with its reason (a refusal that arrived after
 * the input was filed: JetStream mode, where the enclave workers judge files after the host stored them), and
 * flushes both directories. Idempotent: false when the input is not (or no longer) in the store.
 */
export async function quarantineStored(root: string, gateway: string, name: string, reject: { code: ErrorCode; reason: string }, now = Date.now()): Promise<boolean> {
  const fromDir = join(root, 'store', gateway);
  const toDir = join(root, 'quarantine', gateway);
  const base = `${now}-${name}`;
  try {
    await rename(join(fromDir, name), join(toDir, base));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  await writeQuarantineReason(toDir, base, gateway, name, reject, now);
  await Promise.all([fsyncDirAsync(fromDir), fsyncDirAsync(toDir)]);
  return true;
}

/**
 * Done manifests a crashed host left (oldest first), validated, and the ones that are not valid (with the reason);
 * deletes temp files of manifests never committed.
 */
export async function readDoneManifests(root: string): Promise<{ good: { file: string; manifest: DoneManifest }[]; bad: { file: string; error: string }[] }> {
  const dir = filingDir(root);
  mkdirSync(dir, { recursive: true });
  const good: { file: string; manifest: DoneManifest }[] = [];
  const bad: { file: string; error: string }[] = [];
  for (const n of (await readdir(dir)).sort()) {
    const file = join(dir, n);
    if (!MANIFEST_NAME.test(n)) {
      // A manifest's temp file: its micro-batch never committed, its inputs are still in the inbox.
      if (n.startsWith('done-') && n.includes('.tmp-')) await unlink(file).catch(() => undefined);
      continue;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      bad.push({ file, error: `not JSON: ${err instanceof Error ? err.message : String(err)}` });
      continue;
    }
    const r = manifestSchema.safeParse(doc);
    if (r.success) good.push({ file, manifest: r.data as DoneManifest });
    else {
      const issue = r.error.issues[0];
      bad.push({ file, error: issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid' });
    }
  }
  return { good, bad };
}
