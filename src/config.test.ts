import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, envName, loadConfig, type ConfigOverrides } from './config.js';
import { ConfigError } from './errors.js';

describe('loadConfig', () => {
  it('returns the defaults when nothing overrides them', () => {
    expect(loadConfig({ env: {} })).toEqual(DEFAULT_CONFIG);
  });

  it('layers file < env < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hrv-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(
      file,
      JSON.stringify({ gateway: { batchIntervalMs: 2000, id: 'fromfile' }, sensor: { patients: 3 } }),
    );
    const cfg = loadConfig({
      file,
      env: {
        [envName('gateway', 'batchIntervalMs')]: '5000',
        HRVAULT_GATEWAY_ALLOW_SOFTWARE_QUOTES: 'true',
        HRVAULT_GATEWAY_BUCKET_BYTES: '100,200',
      },
      flags: { sensor: { patients: 7 } },
    });
    expect(cfg.gateway.batchIntervalMs).toBe(5000);
    expect(cfg.gateway.id).toBe('fromfile');
    expect(cfg.gateway.allowSoftwareQuotes).toBe(true);
    expect(cfg.gateway.bucketBytes).toEqual([100, 200]);
    expect(cfg.sensor.patients).toBe(7);
  });

  it('names the environment variable holding a bad value', () => {
    expect(() => loadConfig({ env: { HRVAULT_GATEWAY_BATCH_INTERVAL_MS: 'soon' } })).toThrow(
      /gateway\.batchIntervalMs \(from environment HRVAULT_GATEWAY_BATCH_INTERVAL_MS\)/,
    );
  });

  it('validates the key-rotation keys: rotation off by default, a negative or fractional value refused with its variable', () => {
    const cfg = loadConfig({ env: { HRVAULT_CLOUD_ENCLAVE_KEY_ROTATION_S: '86400', HRVAULT_GATEWAY_ATTESTATION_MAX_AGE_S: '600' } });
    expect(cfg.cloud.enclaveKeyRotationS).toBe(86_400);
    expect(cfg.gateway.attestationMaxAgeS).toBe(600);
    expect(loadConfig({ env: {} }).cloud.enclaveKeyRotationS).toBe(0);
    expect(() => loadConfig({ env: { HRVAULT_CLOUD_ENCLAVE_KEY_ROTATION_S: '-1' } })).toThrow(/cloud\.enclaveKeyRotationS \(from environment HRVAULT_CLOUD_ENCLAVE_KEY_ROTATION_S\)/);
    expect(() => loadConfig({ env: { HRVAULT_CLOUD_ENCLAVE_KEY_RETENTION_S: '0' } })).toThrow(/cloud\.enclaveKeyRetentionS/);
    expect(() => loadConfig({ env: { HRVAULT_GATEWAY_ATTESTATION_MAX_AGE_S: '1.5' } })).toThrow(/gateway\.attestationMaxAgeS/);
  });

  it('validates the SP pool sizes: 8 by default, set by environment, 0, 101 or a fraction refused with the variable', () => {
    expect(loadConfig({ env: {} }).sp.dbPoolMax).toBe(8);
    expect(loadConfig({ env: {} }).access.spDbPoolMax).toBe(8);
    const cfg = loadConfig({ env: { HRVAULT_SP_DB_POOL_MAX: '20', HRVAULT_ACCESS_SP_DB_POOL_MAX: '3' } });
    expect([cfg.sp.dbPoolMax, cfg.access.spDbPoolMax]).toEqual([20, 3]);
    expect(() => loadConfig({ env: { HRVAULT_SP_DB_POOL_MAX: '0' } })).toThrow(/sp\.dbPoolMax \(from environment HRVAULT_SP_DB_POOL_MAX\)/);
    expect(() => loadConfig({ env: { HRVAULT_ACCESS_SP_DB_POOL_MAX: '101' } })).toThrow(/access\.spDbPoolMax/);
    expect(() => loadConfig({ env: { HRVAULT_SP_DB_POOL_MAX: '2.5' } })).toThrow(/sp\.dbPoolMax/);
  });

  it('names a bad flag and an unknown key', () => {
    expect(() => loadConfig({ env: {}, flags: { sensor: { patients: 0 } } })).toThrow(
      /sensor\.patients \(from flag\)/,
    );
    const bad = { sensor: { patiens: 3 } } as unknown as ConfigOverrides;
    expect(() => loadConfig({ env: {}, flags: bad })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, flags: bad })).toThrow(/sensor\.patiens/);
  });

  it('rejects an unreadable config file with its name', () => {
    expect(() => loadConfig({ env: {}, file: '/nonexistent/hrvault.json' })).toThrow(
      /\/nonexistent\/hrvault\.json/,
    );
  });
});
