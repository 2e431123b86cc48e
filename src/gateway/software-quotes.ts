/**
 * Whether this gateway may accept attestation quotes from the software backend. A software quote is signed by a
 * platform key that lives in a file on the cloud host (`enclave/platform.key`): whoever reads that file can mint a
 * quote for any enclave key, so accepting software quotes means trusting the host. That is fine for development
 * and the demo, and never by accident in production: a production configuration (NODE_ENV=production or
 * pipeline.deployment = production) that enables them is refused at start-up unless a second, deliberately named
 * override is also set; whenever they are accepted the gateway says so loudly at start.
 */
import { HrvaultError } from '../errors.js';

/** The config key of the production override (set only with the consequence understood). */
export const SOFTWARE_QUOTES_OVERRIDE_KEY = 'gateway.dangerouslyAcceptForgeableSoftwareQuotesInProduction';

/** Software quotes were enabled in a production configuration without the explicit override. */
export class SoftwareQuotesInProductionError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_SOFTWARE_QUOTES_IN_PRODUCTION', message);
    this.name = 'SoftwareQuotesInProductionError';
  }
}

export interface SoftwareQuotePolicyInput {
  /** gateway.allowSoftwareQuotes (`--allow-software-quotes`). */
  allowSoftwareQuotes: boolean;
  /** pipeline.deployment. */
  deployment: 'development' | 'production';
  /** The process's NODE_ENV. */
  nodeEnv: string | undefined;
  /** gateway.dangerouslyAcceptForgeableSoftwareQuotesInProduction. */
  overrideInProduction: boolean;
}

/** The decision: whether software quotes are accepted, and the warning to log at start when they are. */
export interface SoftwareQuotePolicy {
  accept: boolean;
  warning: string | undefined;
}

/** Decides software-quote acceptance; throws SoftwareQuotesInProductionError for production without the override. */
export function softwareQuotePolicy(input: SoftwareQuotePolicyInput): SoftwareQuotePolicy {
  if (!input.allowSoftwareQuotes) return { accept: false, warning: undefined };
  const why = input.deployment === 'production' ? 'pipeline.deployment is "production"' : input.nodeEnv === 'production' ? 'NODE_ENV is "production"' : undefined;
  if (why !== undefined && !input.overrideInProduction) {
    throw new SoftwareQuotesInProductionError(
      `gateway.allowSoftwareQuotes (--allow-software-quotes) is refused because ${why}: a software quote is signed by a key kept in a file on the cloud host, so anyone who reads it can impersonate the enclave. ` +
        `Use a hardware attestation backend, or set ${SOFTWARE_QUOTES_OVERRIDE_KEY} = true if you accept that the host can read every patient's data.`,
    );
  }
  const production = why !== undefined;
  return {
    accept: true,
    warning:
      `ACCEPTING SOFTWARE ATTESTATION QUOTES${production ? ' IN PRODUCTION (override set)' : ''}: whoever can read the platform key on the cloud host can mint quotes ` +
      'and receive the data sealed to the "enclave"; this proves nothing against the host. Development and demo use only.',
  };
}
