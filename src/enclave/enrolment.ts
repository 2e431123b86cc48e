/** The operator's enrolment file for the enclave: which gateways may send batches and receive results. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { EnrolledGateway } from './core.js';

const key = z.string().regex(/^[0-9a-f]{64}$/, 'must be 32 bytes of lowercase hex');
const enrolmentSchema = z
  .array(z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'gateway id must be 1–64 of [A-Za-z0-9_-]'), signingPublicKey: key, hpkePublicKey: key }))
  .min(1, 'at least one gateway must be enrolled');

/** Parses an enrolment document ([{id, signingPublicKey, hpkePublicKey}] with hex keys); throws ConfigError naming the entry. */
export function parseEnrolment(doc: unknown, source = 'enrolment'): EnrolledGateway[] {
  const r = enrolmentSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError(`${source}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const ids = new Set<string>();
  return r.data.map((g) => {
    if (ids.has(g.id)) throw new ConfigError(`${source}: gateway '${g.id}' is enrolled twice`);
    ids.add(g.id);
    return { id: g.id, signingPublicKey: new Uint8Array(Buffer.from(g.signingPublicKey, 'hex')), hpkePublicKey: new Uint8Array(Buffer.from(g.hpkePublicKey, 'hex')) };
  });
}

/** Reads and parses an enrolment file. */
export function loadEnrolment(file: string): EnrolledGateway[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`enrolment file ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return parseEnrolment(doc, file);
}
