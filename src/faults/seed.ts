/** The suite's seed: HRVAULT_FAULTS_SEED when set (to replay a failing run), else a fixed default; printed by each scenario. */
import { prng } from '../sensor/index.js';

const DEFAULT_SEED = 8;

/** The seed of this run of the suite (an integer). */
export function faultSeed(): number {
  const raw = process.env.HRVAULT_FAULTS_SEED;
  if (raw === undefined || raw === '') return DEFAULT_SEED;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`HRVAULT_FAULTS_SEED must be an integer (got "${raw}")`);
  return n;
}

/** A deterministic random source in [0, 1) per (seed, scenario): scenarios draw independently of each other. */
export function seededRandom(seed: number, scenario: string): () => number {
  let h = seed >>> 0;
  for (let i = 0; i < scenario.length; i++) h = Math.imul(h ^ scenario.charCodeAt(i), 16777619) >>> 0;
  return prng(h);
}
