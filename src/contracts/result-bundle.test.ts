import { describe, expect, it } from 'vitest';
import { encodeResultBundle, RESULT_BUNDLE_NAME, splitResultBundle, type BundledResult } from './result-bundle.js';

const results: BundledResult[] = [
  { name: 'pA-0.result', bytes: new Uint8Array([1, 2, 3]) },
  { name: 'pA-1.result', bytes: new Uint8Array(300).fill(7) },
  { name: 'pB-12.result', bytes: new Uint8Array([9]) },
];
const names = (b: BundledResult[]): string[] => b.map((e) => e.name);

describe('result bundle framing', () => {
  it('splits what it framed, byte for byte and in order', () => {
    const split = splitResultBundle(encodeResultBundle(results));
    expect(split.fault).toBeUndefined();
    expect(split.entries.map((e) => [e.name, [...e.bytes]])).toEqual(results.map((r) => [r.name, [...r.bytes]]));
    expect(splitResultBundle(encodeResultBundle([]))).toEqual({ entries: [], fault: undefined });
  });

  it('refuses to frame what a reader would refuse', () => {
    expect(() => encodeResultBundle([{ name: '../x.result', bytes: new Uint8Array(1) }])).toThrow(/not a result name/);
    expect(() => encodeResultBundle([{ name: 'p-1.result', bytes: new Uint8Array(0) }])).toThrow(/0 bytes/);
  });

  it('a truncation at any byte keeps the whole entries before it and names the fault', () => {
    const whole = encodeResultBundle(results);
    for (let cut = 0; cut < whole.length; cut++) {
      const split = splitResultBundle(whole.subarray(0, cut));
      expect(split.fault, `cut at ${cut}`).toBeDefined();
      expect(names(results).slice(0, split.entries.length)).toEqual(names(split.entries));
      for (const [i, e] of split.entries.entries()) expect([...e.bytes]).toEqual([...results[i]!.bytes]);
    }
  });

  it('names each framing fault from the untrusted host', () => {
    const whole = encodeResultBundle(results);
    const bad = (f: (b: Uint8Array, v: DataView) => void): string | undefined => {
      const b = whole.slice();
      f(b, new DataView(b.buffer));
      return splitResultBundle(b).fault;
    };
    expect(bad((b) => (b[0] = 0x58))).toMatch(/bad magic/);
    expect(bad((_b, v) => v.setUint32(7, 2, true))).toMatch(/bytes after the last of 2 entries/);
    expect(bad((_b, v) => v.setUint32(7, 4, true))).toMatch(/entry 3 of 4: the bundle ends before it/);
    expect(bad((_b, v) => v.setUint32(7, 0xffffffff, true))).toMatch(/claims 4294967295 results/);
    // The first entry's name: a path instead of a result name.
    expect(bad((b) => b.set(new TextEncoder().encode('../A-0.result'.slice(0, 11)), 12))).toMatch(/entry 0 of 3: '\.\.\/A-0\.resu' is not a result name/);
    // The first entry's length: more than is left, and zero.
    expect(bad((_b, v) => v.setUint32(12 + 11, 1 << 20, true))).toMatch(/entry 0 of 3 \(pA-0\.result\): 1048576 bytes claimed/);
    expect(bad((_b, v) => v.setUint32(12 + 11, 0, true))).toMatch(/length 0 outside/);
    const longer = new Uint8Array(whole.length + 2);
    longer.set(whole);
    expect(splitResultBundle(longer)).toMatchObject({ fault: '2 bytes after the last of 3 entries' });
    expect(splitResultBundle(longer).entries).toHaveLength(3);
  });

  // The bench's one client at 5,000 beats/s: a 10-s file's result body is padded to 4 MiB (4x the input, a power of
  // two), so its sealed file is 4 MiB plus the envelope; a 4-MiB entry cap made the host's micro-batch fail for good.
  it('holds a result as large as the largest sealed file (16 MiB, the envelope cap)', () => {
    const big: BundledResult = { name: 'p1-7.result', bytes: new Uint8Array(16 * 1024 * 1024).fill(7) };
    const split = splitResultBundle(encodeResultBundle([big]));
    expect(split.fault).toBeUndefined();
    expect(split.entries[0]!.bytes.length).toBe(big.bytes.length);
  });

  it('bundle names are what the host makes', () => {
    expect(RESULT_BUNDLE_NAME.test('results-1764710000000-0123456789abcdef.bundle')).toBe(true);
    expect(RESULT_BUNDLE_NAME.test('results-1-0123456789abcdef.bundle.tmp-12')).toBe(false);
  });
});
