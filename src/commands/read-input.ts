/**
 * Reads a command's input file as text, gunzipping `.gz` files (by name or by magic bytes); every failure
 * becomes an InputFileError naming the file.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { InputFileError } from '../errors.js';

/** The file's text (UTF-8); `.gz` content is decompressed transparently. */
export async function readInputText(path: string): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
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
      buf = gunzipSync(buf);
    } catch (err) {
      throw new InputFileError('HRV_ERR_FILE', path, undefined, 'is not a valid gzip file', { cause: err });
    }
  }
  if (buf.length === 0) throw new InputFileError('HRV_ERR_FILE', path, undefined, 'is empty');
  return buf.toString('utf8');
}
