/**
 * The provisioning protocol (provisioning.ts) bound to a cluster-mode enclave: a worker without the cluster
 * secrets asks (`request`), a worker that holds them answers (`answer`), the asker takes the answer (`accept`).
 * Everything that crosses is what provisioning.ts makes for untrusted relays; the pending key and the secrets stay
 * in this process. The asker also checks that the ring it received is the one the answerer's quote vouched for,
 * so a genuine enclave cannot be made to install a ring other than the one it attested.
 */
import { HrvaultError } from '../errors.js';
import { decodeClusterSecrets, encodeClusterSecrets } from './cluster-secrets.js';
import { KeyRing, NO_ROTATION } from './keyring.js';
import type { ClusterCore, ClusterKeys } from './partition-core.js';
import {
  acceptProvisionResponse,
  answerProvisionRequest,
  createProvisionRequest,
  ProvisionError,
  type PendingProvision,
  type ProvisionRequest,
  type ProvisionResponse,
  type ProvisionVerifyOptions,
} from './provisioning.js';

const equal = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/** One enclave's side of the hand-over of the cluster secrets. */
export class ClusterProvisioning {
  readonly #core: ClusterCore;
  readonly #platformKey: Uint8Array;
  readonly #verify: ProvisionVerifyOptions;
  #pending: PendingProvision | undefined;

  constructor(core: ClusterCore, platformPrivateKey: Uint8Array, verify: ProvisionVerifyOptions) {
    this.#core = core;
    this.#platformKey = platformPrivateKey;
    this.#verify = verify;
  }

  /** A request for the secrets (the last one made is the one an answer must match); refused once they are held. */
  request(): ProvisionRequest {
    if (this.#core.ready) throw new HrvaultError('HRV_ERR_CONFLICT', 'this enclave already holds the cluster secrets');
    const { request, pending } = createProvisionRequest({ platformPrivateKey: this.#platformKey, measurement: this.#core.measurement });
    this.#pending = pending;
    return request;
  }

  /** Installs the secrets an attested enclave sealed to our last request; returns the cluster's public keys. */
  accept(response: unknown): ClusterKeys {
    if (!this.#pending) throw new HrvaultError('HRV_ERR_CONFLICT', 'no provisioning request is pending in this enclave');
    const { secrets, vouched } = acceptProvisionResponse(response, this.#pending, this.#verify);
    try {
      const current = KeyRing.fromPortable(decodeClusterSecrets(secrets).ring, NO_ROTATION).current;
      if (!equal(current.publicKey, vouched.publicKey) || !equal(current.signingPublicKey, vouched.signingPublicKey))
        throw new ProvisionError('HRV_ERR_PROVISION_PAYLOAD', "the secrets' current key pair is not the one the answerer's quote vouches for");
      const keys = this.#core.install(secrets);
      this.#pending = undefined;
      return keys;
    } finally {
      secrets.fill(0);
    }
  }

  /** Seals the held secrets to an attested requester. */
  answer(request: unknown): ProvisionResponse {
    const held = this.#core.heldSecrets();
    const current = KeyRing.fromPortable(held.ring, NO_ROTATION).current;
    const secrets = encodeClusterSecrets(held);
    try {
      return answerProvisionRequest(request, {
        secrets,
        answerer: { hpkePublicKey: current.publicKey, signingPrivateKey: current.signingPrivate, signingPublicKey: current.signingPublicKey },
        platformPrivateKey: this.#platformKey,
        measurement: this.#core.measurement,
        verify: this.#verify,
      });
    } finally {
      secrets.fill(0);
    }
  }
}
