/**
 * The one configuration loader of the pipeline commands. Layers, later wins: built-in defaults → a JSON
 * config file (optional) → environment variables `HRVAULT_<SECTION>_<KEY>` (e.g.
 * `HRVAULT_GATEWAY_BATCH_INTERVAL_MS=5000`) → command-line flags. The result is validated once, at start-up,
 * with zod; a bad value becomes a ConfigError that names the key and where it came from.
 */
import { readFileSync } from 'node:fs';
import { configSchema, type HrvaultConfig } from './contracts/index.js';
import { ConfigError } from './errors.js';

export { configSchema, type HrvaultConfig };


/** Built-in defaults: everything on loopback, 10 patients, 10 s batches. */
export const DEFAULT_CONFIG: HrvaultConfig = {
  mqtt: { url: 'mqtt://127.0.0.1:1883', topicPrefix: 'hrvault/v1', maxInflight: 1000, caFile: '' },
  sensor: {
    patients: 10,
    speed: 1,
    durationS: null,
    seed: 1,
    firstPatient: 1,
    password: '',
    deviceSecret: '',
  },
  gateway: {
    id: 'gw1',
    dataDir: 'hrvault-data/gateway',
    batchIntervalMs: 10_000,
    bucketBytes: [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576],
    sftpHost: '127.0.0.1',
    sftpPort: 2222,
    sftpPrivateKeyFile: '',
    sftpHostFingerprint: '',
    platformPublicKeyFile: '',
    allowedMeasurements: [],
    allowSoftwareQuotes: false,
    dangerouslyAcceptForgeableSoftwareQuotesInProduction: false,
    mqttUsername: 'gw1',
    mqttPassword: '',
    mqttClientId: '',
    retryMaxMs: 30_000,
    maxClockAheadMs: 3_600_000,
    reorderHoldMs: 10_000,
    maxSeqJump: 10_000,
    cspUrl: '',
    attestationMaxAgeS: 3600,
  },
  pipeline: { mode: 'secure', deployment: 'development' },
  cloud: {
    dataDir: 'hrvault-data/cloud',
    host: '127.0.0.1',
    sftpPort: 2222,
    hostKeyFile: '',
    batchIntervalMs: 10_000,
    maxUploadBytes: 4 * 1024 * 1024,
    gatewayKeysFiles: [],
    enclaveCallTimeoutMs: 60_000,
    enclaveKeyRotationS: 0,
    enclaveKeyRetentionS: 7 * 86_400,
    sftpMaxHandlesPerSession: 64,
    sftpMaxSessionsPerGateway: 4,
    sftpMaxConnectionsPerAddress: 16,
    sftpMaxConnections: 128,
    sftpAuthTimeoutMs: 30_000,
    sftpIdleTimeoutMs: 600_000,
    tempRetentionS: 86_400,
    quarantineRetentionS: 30 * 86_400,
    retentionSweepIntervalS: 3600,
  },
  enclave: { dataDir: 'hrvault-data/enclave', platformKeyFile: 'hrvault-data/platform.key', enrolmentFile: '' },
  access: { dataDir: './hrvault-data', host: '127.0.0.1', port: 8080, paillierBits: 2048, spDb: '', spDbPoolMax: 8, adminPassword: '', trustProxy: false, secondAdminPassword: '', grantApprovals: 2 },
  csp: { dataDir: './hrvault-csp', host: '127.0.0.1', port: 8080, paillierBits: 2048, spUrl: '', spPublicKey: '', adminPassword: '', trustProxy: false, secondAdminPassword: '', grantApprovals: 2 },
  sp: { dataDir: './hrvault-sp', host: '127.0.0.1', port: 8081, db: '', dbPoolMax: 8, cspPublicKey: '' },
  jetstream: {
    url: '',
    prefix: 'hrvault',
    partitions: 16,
    replicas: 1,
    duplicateWindowMs: 120_000,
    maxAgeMs: 7 * 86_400_000,
    maxBytes: 2 ** 30,
    maxAckPending: 2000,
    ackWaitMs: 10_000,
    leaseTtlMs: 10_000,
    tlsCaFile: '',
    tlsCertFile: '',
    tlsKeyFile: '',
  },
  worker: { dataDir: 'hrvault-data/worker', maxBatch: 1000, fetchMs: 1000, reorderHoldMs: 10_000 },
  log: { level: 'info' },
};

/** A partial config: what a config file or the flags may set. */
export type ConfigOverrides = { [S in keyof HrvaultConfig]?: Partial<HrvaultConfig[S]> };

type Source = 'default' | 'file' | 'env' | 'flag';

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** The environment variable that sets `section.key`. */
export function envName(section: string, key: string): string {
  return `HRVAULT_${snake(section)}_${snake(key)}`;
}

/** Environment text → value of the type the default has (numbers, booleans, lists as comma-separated or JSON). */
function fromEnv(text: string, example: unknown): unknown {
  if (typeof example === 'number' || example === null) {
    if (text === 'null' || text === '') return null;
    const n = Number(text);
    return Number.isNaN(n) ? text : n;
  }
  if (typeof example === 'boolean') {
    if (/^(1|true|yes)$/i.test(text)) return true;
    if (/^(0|false|no)$/i.test(text)) return false;
    return text;
  }
  if (Array.isArray(example)) {
    if (text.trim().startsWith('[')) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return text;
      }
    }
    const items = text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    return typeof example[0] === 'number' ? items.map(Number) : items;
  }
  return text;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** JSON file with a partial config (sections as in HrvaultConfig). */
  file?: string;
  flags?: ConfigOverrides;
}

/** Builds and validates the config; throws ConfigError naming the offending key and its source. */
export function loadConfig(options: LoadConfigOptions = {}): HrvaultConfig {
  const env = options.env ?? process.env;
  const merged = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, Record<string, unknown>>;
  const sources = new Map<string, Source>();
  const apply = (over: unknown, source: Source): void => {
    if (over === undefined) return;
    if (typeof over !== 'object' || over === null || Array.isArray(over))
      throw new ConfigError(`${source} config must be an object of sections`);
    for (const [section, values] of Object.entries(over)) {
      const target = merged[section];
      if (target === undefined) throw new ConfigError(`unknown config section "${section}" (from ${source})`);
      if (typeof values !== 'object' || values === null)
        throw new ConfigError(`config section "${section}" (from ${source}) must be an object`);
      for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
        if (value === undefined) continue;
        if (!(key in target))
          throw new ConfigError(`unknown config key "${section}.${key}" (from ${source})`);
        target[key] = value;
        sources.set(`${section}.${key}`, source);
      }
    }
  };
  if (options.file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(options.file, 'utf8'));
    } catch (err) {
      throw new ConfigError(
        `config file ${options.file}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    apply(parsed, 'file');
  }
  for (const [section, values] of Object.entries(merged)) {
    for (const [key, example] of Object.entries(values)) {
      const text = env[envName(section, key)];
      if (text === undefined) continue;
      values[key] = fromEnv(text, example);
      sources.set(`${section}.${key}`, 'env');
    }
  }
  apply(options.flags, 'flag');
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const [section, key] = issue.path.map(String);
    const path = issue.path.map(String).join('.');
    const source = sources.get(`${section}.${key}`) ?? 'default';
    const where =
      source === 'env' && section !== undefined && key !== undefined
        ? `environment ${envName(section, key)}`
        : source;
    throw new ConfigError(`invalid config ${path} (from ${where}): ${issue.message}`, {
      cause: result.error,
    });
  }
  return result.data;
}
