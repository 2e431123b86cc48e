/** Test fixtures for the enclave and cloud tests: a gateway identity and rr-batch files sealed like the gateway does. */
import {
  generateHpkeKeyPair,
  generateSigningKeyPair,
  keyIdOf,
  sealEnvelope,
  type HpkeKeyPair,
  type SigningKeyPair,
} from '../crypto/index.js';

export interface TestGateway {
  id: string;
  hpke: HpkeKeyPair;
  signing: SigningKeyPair;
}

export function makeGateway(id = 'gw-1'): TestGateway {
  return { id, hpke: generateHpkeKeyPair(), signing: generateSigningKeyPair() };
}

/** RR intervals of a patient at `bpm` with a sinusoidal ±`sway` ms modulation, for beats in [t0, t1) ms. */
export function rrCsv(t0: number, t1: number, bpm: number, sway = 30, jitter = (i: number) => 0 * i): { csv: string; beats: number; values: string[] } {
  const base = 60_000 / bpm;
  let t = t0;
  let i = 0;
  const lines = ['time_ms,rr_ms'];
  const values: string[] = [];
  for (;;) {
    const rr = Math.round(base + sway * Math.sin((2 * Math.PI * t) / 4000) + jitter(i));
    if (t + rr >= t1) break;
    t += rr;
    lines.push(`${t},${rr}`);
    values.push(`${t},${rr}`);
    i++;
  }
  return { csv: lines.join('\n') + '\n', beats: values.length, values };
}

/** An rr-batch file for `patient` sealed to `enclavePublicKey` and signed by the gateway. */
export function sealedBatch(gw: TestGateway, enclavePublicKey: Uint8Array, patient: string, seq: number, t0: number, t1: number, bpm = 70, signWith?: Uint8Array) {
  const { csv, beats, values } = rrCsv(t0, t1, bpm);
  const bytes = sealEnvelope(
    enclavePublicKey,
    { v: 1, kind: 'rr-batch', gateway: gw.id, patient, seq, t_start_ms: t0, t_end_ms: t1, key_id: keyIdOf(enclavePublicKey) },
    new TextEncoder().encode(csv),
    signWith ?? gw.signing.privateKey,
  );
  return { name: `${patient}-${seq}.rrb`, bytes, beats, values };
}
