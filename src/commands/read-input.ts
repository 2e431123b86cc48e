/**
 * Reads a command's input file as text, gunzipping `.gz` files (by name or by magic bytes); every failure
 * becomes an InputFileError naming the file.
 */
import { readFile, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { InputFileError } from '../errors.js';

/**
 * Largest input accepted, bytes, on disk and after decompression: 24 h of 2-column ECG at 500 Hz is ~1 GB,
 * but every real file these commands take (30-min records ≤ 20 MB, day-long RR lists ≤ 3 MB) is far below
 * this, and a gzip bomb (2.8 MB → 560 MB) must end in a clear refusal, not an out-of-memory stack trace.
 */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;

/** The file's text (UTF-8); `.gz` content is decompressed transparently; more than `maxBytes` (bytes) is refused. */
export async function readInputText(path: string, maxBytes = MAX_INPUT_BYTES): Promise<string> {
  let buf: Buffer;
  const mib = `${Math.round(maxBytes / 1048576)} MiB`;
  try {
    const st = await stat(path);
    if (st.isFile() && st.size > maxBytes) {
      throw new InputFileError('HRV_ERR_FILE', path, undefined, `is larger than ${mib}; split it or analyse it in parts`);
    }
    buf = await readFile(path);
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory, not a file'
          : code === 'EACCES'
            ? 'permission denied'
            : `cannot be read (${code ?? String(err)})`;
    throw new InputFileError('HRV_ERR_FILE', path, undefined, problem, { cause: err });
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new InputFileError('HRV_ERR_FILE', path, undefined, `decompresses to more than ${mib}; refused (gzip bomb or a file too large to analyse at once)`, { cause: err });
      }
      throw new InputFileError('HRV_ERR_FILE', path, undefined, 'is not a valid gzip file', { cause: err });
    }
  }
  if (buf.length === 0) throw new InputFileError('HRV_ERR_FILE', path, undefined, 'is empty');
  return buf.toString('utf8');
}
