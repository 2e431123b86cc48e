/**
 * Deterministic failpoints at the pipeline's commit boundaries, for the fault-injection suite. A test names the
 * points it wants armed in `HRVAULT_FAILPOINTS` (a child process) or with `armFailpoints` (in process); with
 * neither, `failpoint()` is one map lookup on an empty map and does nothing. `NODE_ENV=production` refuses any
 * armed point at start-up, so a stray variable on a real host cannot crash it on purpose.
 *
 * Spec: `name=action[@hit]` entries separated by commas, e.g. `gateway.cut.after-pending-write=crash@3`.
 *   crash  SIGKILL this process (no handlers, no flush: what a power cut or the OOM killer leaves)
 *   hang   block this thread forever (a deadlocked child, as a watchdog sees it)
 *   error  throw FailpointError (an I/O error at exactly this instant)
 *   exit   process.exit(77) (a clean but unexpected exit)
 * `@hit` fires on the hit-th time the point is reached (default 1) and only then.
 */
import { HrvaultError } from '../errors.js';

/** Every failpoint the code defines; a name outside this list is a type error in code and a start-up error in a spec. */
export const FAILPOINTS = [
  // gateway spool cut: pending batch files written, state.json not yet replaced
  'gateway.cut.after-pending-write',
  // gateway spool cut: state.json committed, the old segment not yet deleted
  'gateway.cut.after-state-commit',
  // gateway upload: the file renamed into the host's inbox, the pending file not yet deleted
  'gateway.upload.after-rename',
  // gateway results: the result kept in the outbox (R1), the host's copy not yet deleted
  'gateway.result.after-keep',
  // cloud host: the enclave answered a micro-batch, the result files not yet written
  'cloud.after-enclave-reply',
  // cloud host: the micro-batch's result bundles written, its done manifest not yet
  'cloud.after-results-written',
  // cloud host: the done manifest written (the inputs settled), the inputs not yet filed away from the inbox
  'cloud.after-inputs-done',
  // enclave: the sealed state written, the reply not yet sent to the host
  'enclave.after-seal',
  // enclave: before it processes a micro-batch (where a hang is injected for the host's watchdog)
  'enclave.before-batch',
  // worker (JetStream mode): a partition's state committed (W1), its results not yet published
  'worker.after-commit',
  // worker: the results published (W2), the work messages not yet acknowledged
  'worker.after-publish',
  // CSP: the SP committed the record, the CSP's own index not yet updated
  'csp.after-sp-commit',
  // CSP: the index updated, the audit entry not yet written
  'csp.after-index',
] as const;

export type FailpointName = (typeof FAILPOINTS)[number];
export type FailpointAction = 'crash' | 'hang' | 'error' | 'exit';

/** Thrown by an armed `error` failpoint. */
export class FailpointError extends HrvaultError {
  readonly failpoint: FailpointName;
  constructor(name: FailpointName) {
    super('HRV_ERR_FAILPOINT', `failpoint ${name} fired`);
    this.name = 'FailpointError';
    this.failpoint = name;
  }
}

interface Armed {
  action: FailpointAction;
  hit: number;
  seen: number;
}

const ACTIONS: readonly FailpointAction[] = ['crash', 'hang', 'error', 'exit'];
let armed = new Map<FailpointName, Armed>();

/** Parses a failpoint spec (see the module comment); throws HRV_ERR_CONFIG naming the bad entry. */
export function parseFailpointSpec(spec: string): Map<FailpointName, Armed> {
  const out = new Map<FailpointName, Armed>();
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^([a-z0-9.-]+)=([a-z]+)(?:@([1-9][0-9]*))?$/.exec(entry);
    if (!m) throw new HrvaultError('HRV_ERR_CONFIG', `failpoint spec "${entry}": expected name=action[@hit]`);
    const [, name, action, hit] = m as unknown as [string, string, string, string | undefined];
    if (!(FAILPOINTS as readonly string[]).includes(name)) {
      throw new HrvaultError('HRV_ERR_CONFIG', `failpoint spec "${entry}": unknown failpoint ${name}`);
    }
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new HrvaultError('HRV_ERR_CONFIG', `failpoint spec "${entry}": action must be one of ${ACTIONS.join(', ')}`);
    }
    out.set(name as FailpointName, { action: action as FailpointAction, hit: hit === undefined ? 1 : Number(hit), seen: 0 });
  }
  return out;
}

/** Arms the points in `spec` for this process (replacing any armed before); '' disarms all. */
export function armFailpoints(spec: string): void {
  const parsed = parseFailpointSpec(spec);
  if (parsed.size > 0 && process.env.NODE_ENV === 'production') {
    throw new HrvaultError('HRV_ERR_CONFIG', 'failpoints are refused when NODE_ENV=production');
  }
  armed = parsed;
}

/** Marks a commit boundary; does nothing unless a test armed this point. */
export function failpoint(name: FailpointName): void {
  if (armed.size === 0) return;
  const point = armed.get(name);
  if (point === undefined) return;
  point.seen += 1;
  if (point.seen !== point.hit) return;
  switch (point.action) {
    case 'crash':
      process.kill(process.pid, 'SIGKILL');
      // SIGKILL is delivered asynchronously; never run on past the point meanwhile.
      blockForever();
      break;
    case 'hang':
      blockForever();
      break;
    case 'error':
      throw new FailpointError(name);
    case 'exit':
      process.exit(77);
  }
}

function blockForever(): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}

armFailpoints(process.env.HRVAULT_FAILPOINTS ?? '');
