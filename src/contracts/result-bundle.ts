/**
 * A result bundle: the host's one file per gateway and micro-batch, holding that batch's result files for the
 * gateway (each still the enclave's individually sealed and signed file, or a plain-mode file). The host writes it
 * with one fdatasync instead of one per result; the gateway splits it and judges every result as if it had come
 * alone. The framing is written by the untrusted host, so a reader trusts none of it: every length is bounded and
 * checked against what is left, names must be result names, and a framing fault stops the split at that entry
 * while keeping the entries before it (each is authenticated on its own, so a good one stays good).
 *
 * Layout (integers little-endian):
 *   magic "HRVRB1\n" (7 bytes) · count u32
 *   count × ( name length u8 · name (ASCII) · bytes length u32 · bytes )
 * and nothing after the last entry.
 */

/** The first bytes of every bundle (format version 1). */
export const RESULT_BUNDLE_MAGIC = 'HRVRB1\n';
/** Result names a bundle may hold: `<pseudonym>-<seq>.result` (groups: pseudonym, sequence number). */
export const BUNDLED_RESULT_NAME = /^([A-Za-z0-9_-]{1,64})-(\d{1,15})\.result$/;
/** Bundle file names in a gateway's outbox: `results-<ms>-<16 hex>.bundle`. */
export const RESULT_BUNDLE_NAME = /^results-\d{1,15}-[0-9a-f]{16}\.bundle$/;
/**
 * Largest result file a bundle may hold (bytes): the envelope's own cap (MAX_ENVELOPE_BYTES in src/crypto), since a
 * result's padded body can reach 4 MiB and more for a fast client's 10-s file (4x its input, a power of two).
 */
export const MAX_BUNDLED_RESULT_BYTES = 16 * 1024 * 1024;
/** Most results one bundle may hold. */
export const MAX_BUNDLED_RESULTS = 1_000_000;

/** One result file inside a bundle. */
export interface BundledResult {
  name: string;
  bytes: Uint8Array;
}

/** What a bundle held: the entries read in order, and the first framing fault (undefined when it was whole). */
export interface SplitBundle {
  entries: BundledResult[];
  fault: string | undefined;
}

const MAGIC = new TextEncoder().encode(RESULT_BUNDLE_MAGIC);

/** Frames result files into one bundle (in the given order); throws on a name or size the reader would refuse. */
export function encodeResultBundle(results: readonly BundledResult[]): Uint8Array {
  if (results.length > MAX_BUNDLED_RESULTS) throw new RangeError(`a bundle holds at most ${MAX_BUNDLED_RESULTS} results (got ${results.length})`);
  const names = results.map((r) => {
    if (!BUNDLED_RESULT_NAME.test(r.name)) throw new RangeError(`'${r.name}' is not a result name`);
    if (r.bytes.length === 0 || r.bytes.length > MAX_BUNDLED_RESULT_BYTES) throw new RangeError(`result ${r.name} is ${r.bytes.length} bytes (1 to ${MAX_BUNDLED_RESULT_BYTES})`);
    return new TextEncoder().encode(r.name);
  });
  const size = MAGIC.length + 4 + results.reduce((n, r, i) => n + 1 + names[i]!.length + 4 + r.bytes.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  let off = MAGIC.length;
  view.setUint32(off, results.length, true);
  off += 4;
  for (const [i, r] of results.entries()) {
    const name = names[i]!;
    out[off++] = name.length;
    out.set(name, off);
    off += name.length;
    view.setUint32(off, r.bytes.length, true);
    off += 4;
    out.set(r.bytes, off);
    off += r.bytes.length;
  }
  return out;
}

/**
 * Splits a bundle from the untrusted host. Never throws: a framing fault (bad magic, a length past the end, a name
 * that is not a result name, a count that disagrees with the entries, bytes after the last) ends the split there
 * and is named in `fault`; the entries before it are returned (each must still pass its own verification).
 * Entries are views into `bytes`.
 */
export function splitResultBundle(bytes: Uint8Array): SplitBundle {
  const entries: BundledResult[] = [];
  const fail = (why: string): SplitBundle => ({ entries, fault: why });
  if (bytes.length < MAGIC.length + 4) return fail(`${bytes.length} bytes: shorter than a bundle header`);
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return fail('not a result bundle (bad magic or version)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = MAGIC.length;
  const count = view.getUint32(off, true);
  off += 4;
  if (count > MAX_BUNDLED_RESULTS) return fail(`claims ${count} results (at most ${MAX_BUNDLED_RESULTS})`);
  for (let i = 0; i < count; i++) {
    if (off + 1 > bytes.length) return fail(`entry ${i} of ${count}: the bundle ends before it`);
    const nameLen = bytes[off]!;
    off += 1;
    if (nameLen === 0 || off + nameLen + 4 > bytes.length) return fail(`entry ${i} of ${count}: name length ${nameLen} runs past the end`);
    let name = '';
    for (let j = 0; j < nameLen; j++) name += String.fromCharCode(bytes[off + j]!);
    off += nameLen;
    if (!BUNDLED_RESULT_NAME.test(name)) return fail(`entry ${i} of ${count}: '${name.replace(/[^\x20-\x7e]/g, '?')}' is not a result name`);
    const len = view.getUint32(off, true);
    off += 4;
    if (len === 0 || len > MAX_BUNDLED_RESULT_BYTES) return fail(`entry ${i} of ${count} (${name}): length ${len} outside 1 to ${MAX_BUNDLED_RESULT_BYTES}`);
    if (off + len > bytes.length) return fail(`entry ${i} of ${count} (${name}): ${len} bytes claimed, ${bytes.length - off} left`);
    entries.push({ name, bytes: bytes.subarray(off, off + len) });
    off += len;
  }
  if (off !== bytes.length) return fail(`${bytes.length - off} bytes after the last of ${count} entries`);
  return { entries, fault: undefined };
}
