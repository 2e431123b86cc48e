/**
 * The gateway's durable record of the enclave state commits its results came from, to detect a host that rolled the
 * enclave's sealed state back (deleted `state.sealed`, restored an older copy, cut the journal's tail).
 *
 * Every result names the commit that holds its receipt: number n (one more per commit of the enclave's state) and a
 * random id. An honest enclave makes each number once, so:
 * - a number seen before under another id is a second history: the state was rolled back and committed again;
 * - a number far behind the newest one seen (more than `lagCommits`) that was never seen is refused for the same
 *   reason (a state restarted from scratch counts from 1 again); nearer ones are results the host delivered late,
 *   or commits whose results all went to other gateways;
 * - a result for a (patient, seq) this gateway already holds is an honest redelivery only if its commit is one the
 *   gateway took before (the enclave answers a retried file with its original bytes); from any other commit it was
 *   analysed a second time, which only a rolled-back state does (`judgeReplay`).
 * Software mode has no hardware monotonic counter: a rollback to a commit whose number this gateway never saw, and
 * after which the enclave's new commits only ever reach other gateways or stay within the lag, is not detected
 * (docs/pipeline-security.md). Detected or not, a replayed (patient, seq) never reaches the CSP twice (the outbox).
 *
 * Across enclave key rotation the counter goes on (it is in the sealed state, not the key ring), so the record is
 * kept per gateway, over every enclave pair it attested: a rollback to a state from before a rotation still shows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseContract } from '../contracts/index.js';
import { writeFileDurable } from '../durable-file.js';
import { HrvaultError } from '../errors.js';

/** A state commit as a result names it; `p`: a JetStream worker's partition, whose commits are numbered on their own. */
export interface StateCommit {
  p?: number;
  n: number;
  id: string;
}

/** How many commit numbers (the newest) keep their ids; a number below them cannot be checked and is refused. */
export const COMMIT_WINDOW = 1024;
/**
 * How far behind the newest commit seen a never-seen commit may be and still be taken as late (commits). The enclave
 * makes up to 4 commits per micro-batch (one per chunk); results of a host crash are redelivered within a few.
 */
export const DEFAULT_LAG_COMMITS = 256;

const scopeSchema = z.strictObject({
  max: z.number().int().min(0),
  commits: z.array(z.tuple([z.number().int().min(1), z.string().min(1)])),
});
/** v1: one embedded enclave's commits; v2: one record per scope ('e' = embedded, 'p<n>' = partition n). */
const fileSchema = z.union([
  scopeSchema.extend({ v: z.literal(1) }).strict(),
  z.strictObject({ v: z.literal(2), scopes: z.record(z.string().regex(/^(e|p\d{1,4})$/), scopeSchema) }),
]);

/** One numbering of commits: the embedded enclave's, or one partition's. */
interface Scope {
  max: number;
  ids: Map<number, string>;
}

const scopeOf = (c: Pick<StateCommit, 'p'>): string => (c.p === undefined ? 'e' : `p${c.p}`);

/** A result the enclave could only have made from a rolled-back state. */
export class EnclaveRollbackError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_ENCLAVE_ROLLBACK', message);
    this.name = 'EnclaveRollbackError';
  }
}

/**
 * The commits this gateway took results from: per scope (the embedded enclave, or each partition of JetStream
 * workers, whose numbers are unrelated), the newest number and the ids of the newest COMMIT_WINDOW numbers.
 */
export class EnclaveCommits {
  readonly #file: string;
  readonly #lag: number;
  readonly #scopes = new Map<string, Scope>();

  private constructor(file: string, lag: number) {
    this.#file = file;
    this.#lag = lag;
  }

  /** Opens (or starts) the record in `file`. */
  static open(file: string, opts: { lagCommits?: number } = {}): EnclaveCommits {
    const c = new EnclaveCommits(file, opts.lagCommits ?? DEFAULT_LAG_COMMITS);
    if (existsSync(file)) {
      const doc = parseContract(
        'gateway enclave commits',
        fileSchema,
        JSON.parse(readFileSync(file, 'utf8')),
      );
      const scopes = doc.v === 1 ? { e: doc } : doc.scopes;
      for (const [name, sc] of Object.entries(scopes))
        c.#scopes.set(name, { max: sc.max, ids: new Map(sc.commits) });
    }
    return c;
  }

  /** Newest commit number seen in `c`'s scope (0: none); without an argument, the embedded enclave's. */
  max(c: Pick<StateCommit, 'p'> = {}): number {
    return this.#scopes.get(scopeOf(c))?.max ?? 0;
  }

  #scope(c: StateCommit): Scope {
    const name = scopeOf(c);
    let sc = this.#scopes.get(name);
    if (!sc) this.#scopes.set(name, (sc = { max: 0, ids: new Map() }));
    return sc;
  }

  /**
   * Judges a new result's commit (one whose (patient, seq) the gateway does not hold yet): 'known' (a commit taken
   * before) or 'new'; throws EnclaveRollbackError for a number seen under another id or too far behind.
   */
  judge(c: StateCommit): 'known' | 'new' {
    const sc = this.#scope(c);
    const seen = sc.ids.get(c.n);
    if (seen === c.id) return 'known';
    if (seen !== undefined)
      throw new EnclaveRollbackError(
        `enclave state commit ${describe(c)} arrives with another id than before: the host rolled the enclave's state back`,
      );
    if (c.n < sc.max - this.#lag || (sc.ids.size >= COMMIT_WINDOW && c.n < oldest(sc)))
      throw new EnclaveRollbackError(
        `enclave state commit ${describe(c)} is ${sc.max - c.n} behind the newest seen (${sc.max}), never seen: the host rolled the enclave's state back`,
      );
    return 'new';
  }

  /**
   * Judges the commit of a result for a (patient, seq) the gateway already holds: a redelivery carries the commit
   * the original came from, which the gateway took; throws EnclaveRollbackError if the result was made again.
   */
  judgeReplay(c: StateCommit): void {
    const sc = this.#scope(c);
    if (sc.ids.get(c.n) === c.id) return;
    if (sc.ids.size > 0 && c.n < oldest(sc)) return; // beyond what is kept: cannot tell, and it is refused as a replay anyway
    throw new EnclaveRollbackError(
      `a result for a batch already kept comes from enclave state commit ${describe(c)}, not the one it was first made in: analysed twice, the host rolled the enclave's state back`,
    );
  }

  /** Records a commit durably (before a result from it is kept, so a restart knows every commit a kept result names). */
  record(c: StateCommit): void {
    const sc = this.#scope(c);
    if (sc.ids.get(c.n) === c.id) return;
    sc.ids.set(c.n, c.id);
    sc.max = Math.max(sc.max, c.n);
    if (sc.ids.size > COMMIT_WINDOW) {
      const kept = new Set([...sc.ids.keys()].sort((a, b) => b - a).slice(0, COMMIT_WINDOW));
      for (const n of [...sc.ids.keys()]) if (!kept.has(n)) sc.ids.delete(n);
    }
    const only = [...this.#scopes.keys()];
    // An embedded-only record keeps the v1 format, so an older gateway build can still read it.
    const doc =
      only.length === 1 && only[0] === 'e'
        ? { v: 1, max: sc.max, commits: [...sc.ids] }
        : {
            v: 2,
            scopes: Object.fromEntries(
              [...this.#scopes].map(([name, x]) => [name, { max: x.max, commits: [...x.ids] }]),
            ),
          };
    try {
      writeFileDurable(this.#file, JSON.stringify(doc));
    } catch (err) {
      throw new HrvaultError('HRV_ERR_SPOOL', `enclave commits: could not write ${this.#file}`, {
        cause: err,
      });
    }
  }
}

function oldest(sc: Scope): number {
  let min = Infinity;
  for (const n of sc.ids.keys()) if (n < min) min = n;
  return min;
}

function describe(c: StateCommit): string {
  return c.p === undefined ? String(c.n) : `${c.n} of partition ${c.p}`;
}
