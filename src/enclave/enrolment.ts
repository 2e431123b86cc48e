/** The operator's enrolment file for the enclave: which gateways may send batches and receive results. */
import { readFileSync } from 'node:fs';
import { enrolmentFileSchema as enrolmentSchema } from '../contracts/index.js';
import { ConfigError } from '../errors.js';
import type { EnrolledGateway } from './core.js';

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
