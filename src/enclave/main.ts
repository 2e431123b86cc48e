/**
 * Entry point of the enclave process. The host forks it and talks to it over the IPC pipe; what crosses
 * is only ciphertexts, batch descriptors, quotes and aggregate counts. The same file is what Gramine-SGX
 * would load (docs/gramine/).
 */
import { readFileSync } from 'node:fs';
import { HrvaultError } from '../errors.js';
import { failpoint } from '../failpoints/index.js';
import { EnclaveCore, type BatchFile, type EnrolledGateway, type ResultAck } from './core.js';
import type { KeyPolicy } from './keyring.js';
import { computeMeasurement } from './measurement.js';
import { lockStateDir } from './state-lock.js';

type Request =
  | { id: number; op: 'init'; dataDir: string; platformKeyFile: string; enrolledGateways: EnrolledGateway[]; keyPolicy?: KeyPolicy }
  | { id: number; op: 'quote'; nonce: Uint8Array }
  | { id: number; op: 'batch'; files: BatchFile[]; written?: ResultAck[] }
  | { id: number; op: 'close' };

let core: EnclaveCore | undefined;

function reply(id: number, body: Record<string, unknown>): void {
  process.send?.({ id, ...body });
}

function handle(msg: Request): void {
  try {
    switch (msg.op) {
      case 'init': {
        const seed = readFileSync(msg.platformKeyFile);
        if (seed.length !== 32) throw new HrvaultError('HRV_ERR_CONFIG', `platform key ${msg.platformKeyFile} must be a 32-byte Ed25519 seed`);
        // Before anything is read: an enclave of a host that died alone may still be appending to this state.
        lockStateDir(msg.dataDir);
        core = new EnclaveCore({
          dataDir: msg.dataDir,
          platformPrivateKey: new Uint8Array(seed),
          measurement: computeMeasurement(),
          enrolledGateways: msg.enrolledGateways.map((g) => ({ id: g.id, signingPublicKey: new Uint8Array(g.signingPublicKey), hpkePublicKey: new Uint8Array(g.hpkePublicKey) })),
          ...(msg.keyPolicy === undefined ? {} : { keyPolicy: msg.keyPolicy }),
        });
        reply(msg.id, { ok: true, value: { publicKey: core.publicKey, signingPublicKey: core.signingPublicKey, keyId: core.keyId, measurement: core.measurement } });
        return;
      }
      case 'quote':
        if (!core) throw new HrvaultError('HRV_ERR_ENCLAVE', 'enclave not initialised');
        reply(msg.id, { ok: true, value: core.quote(new Uint8Array(msg.nonce)) });
        return;
      case 'batch':
        if (!core) throw new HrvaultError('HRV_ERR_ENCLAVE', 'enclave not initialised');
        failpoint('enclave.before-batch');
        reply(msg.id, { ok: true, value: core.processBatch(msg.files, msg.written ?? []) });
        return;
      case 'close':
        reply(msg.id, { ok: true, value: null });
        process.disconnect?.();
        return;
    }
  } catch (err) {
    // Only the code and message cross to the host; they never contain plaintext.
    reply(msg.id, { ok: false, error: { code: err instanceof HrvaultError ? err.code : 'HRV_ERR_ENCLAVE', message: err instanceof Error ? err.message : String(err) } });
    // A failed state write leaves memory ahead of the disk: exit, and the host's supervisor restarts us from what is durable.
    if (core?.broken) process.exit(70);
  }
}

if (!process.send) {
  process.stderr.write('hrvault enclave: must be started by the host over an IPC channel (hrvault cloud / hrvault demo)\n');
  process.exit(2);
}
process.on('message', (m) => handle(m as Request));
process.on('disconnect', () => process.exit(0));
// The host owns this process's shutdown: Ctrl-C at a terminal, or a SIGTERM sent to the whole process group, would
// otherwise stop the enclave in the middle of a micro-batch while the host still waits for its answer. The host drains,
// then closes us over IPC; if the host dies, the IPC channel closes and we exit ('disconnect' above). A hung enclave
// is killed by the host's watchdog with SIGKILL, which no handler can refuse.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
