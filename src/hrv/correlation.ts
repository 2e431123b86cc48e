/** Pearson correlation of a[aOff … aOff + len) with b[bOff … bOff + len); 0 when either is flat. */
export function pearson(a: Float64Array, aOff: number, b: Float64Array, bOff: number, len: number): number {
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  for (let k = 0; k < len; k++) {
    const x = a[aOff + k]!;
    const y = b[bOff + k]!;
    sa += x;
    sb += y;
    saa += x * x;
    sbb += y * y;
    sab += x * y;
  }
  const va = saa - (sa * sa) / len;
  const vb = sbb - (sb * sb) / len;
  if (va <= 0 || vb <= 0) return 0;
  return (sab - (sa * sb) / len) / Math.sqrt(va * vb);
}

/** A template with the sums pearson computes for it on every call, computed once (see templateOf). */
export interface Template {
  data: Float64Array;
  len: number;
  /** Sum of the values. */
  sum: number;
  /** Sum of squares minus sum² / len (pearson's vb). */
  spread: number;
}

/** data[0 … data.length) as a Template for pearsonWith. */
export function templateOf(data: Float64Array): Template {
  const len = data.length;
  let sb = 0;
  let sbb = 0;
  for (let k = 0; k < len; k++) {
    const y = data[k]!;
    sb += y;
    sbb += y * y;
  }
  return { data, len, sum: sb, spread: sbb - (sb * sb) / len };
}

/** pearson(a, aOff, t.data, 0, t.len), the same number, without summing the template again. */
export function pearsonWith(a: Float64Array, aOff: number, t: Template): number {
  const b = t.data;
  const len = t.len;
  let sa = 0;
  let saa = 0;
  let sab = 0;
  for (let k = 0; k < len; k++) {
    const x = a[aOff + k]!;
    sa += x;
    saa += x * x;
    sab += x * b[k]!;
  }
  const va = saa - (sa * sa) / len;
  const vb = t.spread;
  if (va <= 0 || vb <= 0) return 0;
  return (sab - (sa * t.sum) / len) / Math.sqrt(va * vb);
}
