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
