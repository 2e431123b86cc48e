/** The MQTT clients' TLS trust: the deployment's own CA, read once at start-up. */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/** Reads the PEM CA file named by `mqtt.caFile` (undefined for ''); throws ConfigError when it cannot. */
export function readMqttCa(file: string): string | undefined {
  if (file === '') return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`mqtt.caFile ${file}: cannot read`, { cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`mqtt.caFile ${file}: no PEM certificate in it`);
  return pem;
}
