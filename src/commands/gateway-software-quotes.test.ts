/** Software attestation quotes cannot be switched on by accident in production, and are announced whenever accepted. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { acceptSoftwareQuotes, gatewayFromConfig } from './gateway.js';
import { loadConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { SoftwareQuotesInProductionError, softwareQuotePolicy } from '../gateway/index.js';

const root = mkdtempSync(join(tmpdir(), 'sw-quotes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function capture(): { logger: Logger; warnings: () => { msg: string; attestation_backend?: string }[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  return { logger, warnings: () => lines.map((l) => JSON.parse(l) as { level: number; msg: string; attestation_backend?: string }).filter((l) => l.level === 40) };
}

describe('software attestation quotes in production', () => {
  it('a gateway with --allow-software-quotes under NODE_ENV=production is refused at start-up with a named error, before it writes any key', async () => {
    const dataDir = join(root, 'node-env');
    const cfg = loadConfig({ env: {}, flags: { gateway: { allowSoftwareQuotes: true, dataDir } } });
    const { logger } = capture();
    const err = await gatewayFromConfig(cfg, logger, undefined, { NODE_ENV: 'production' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SoftwareQuotesInProductionError);
    expect(err).toMatchObject({ code: 'HRV_ERR_SOFTWARE_QUOTES_IN_PRODUCTION' });
    expect((err as Error).message).toMatch(/NODE_ENV is "production".*gateway\.dangerouslyAcceptForgeableSoftwareQuotesInProduction/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('pipeline.deployment = production refuses software quotes too, whatever NODE_ENV says', () => {
    const cfg = loadConfig({ env: { HRVAULT_PIPELINE_DEPLOYMENT: 'production', HRVAULT_GATEWAY_ALLOW_SOFTWARE_QUOTES: 'true' } });
    expect(cfg.pipeline.deployment).toBe('production');
    expect(() => acceptSoftwareQuotes(cfg, capture().logger, { NODE_ENV: 'development' })).toThrow(SoftwareQuotesInProductionError);
    expect(() => acceptSoftwareQuotes(cfg, capture().logger, {})).toThrow(/pipeline\.deployment is "production"/);
  });

  it('only the explicit production override lets a production gateway accept software quotes, and it then warns at start', () => {
    const cfg = loadConfig({ env: { HRVAULT_PIPELINE_DEPLOYMENT: 'production', HRVAULT_GATEWAY_ALLOW_SOFTWARE_QUOTES: 'true', HRVAULT_GATEWAY_DANGEROUSLY_ACCEPT_FORGEABLE_SOFTWARE_QUOTES_IN_PRODUCTION: 'true' } });
    const { logger, warnings } = capture();
    expect(acceptSoftwareQuotes(cfg, logger, { NODE_ENV: 'production' })).toBe(true);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ attestation_backend: 'software' });
    expect(warnings()[0]!.msg).toMatch(/SOFTWARE ATTESTATION QUOTES IN PRODUCTION \(override set\)/);
    // The override alone switches nothing on.
    const off = loadConfig({ env: { HRVAULT_PIPELINE_DEPLOYMENT: 'production', HRVAULT_GATEWAY_DANGEROUSLY_ACCEPT_FORGEABLE_SOFTWARE_QUOTES_IN_PRODUCTION: 'true' } });
    expect(acceptSoftwareQuotes(off, capture().logger, { NODE_ENV: 'production' })).toBe(false);
  });

  it('a development gateway that accepts software quotes logs a warning when it starts; one that does not, logs none', async () => {
    // Secure mode without a pinned platform key stops right after the policy step: what was logged by then is the start-up log.
    const on = loadConfig({ env: {}, flags: { gateway: { allowSoftwareQuotes: true, dataDir: join(root, 'dev-on') } } });
    const a = capture();
    await expect(gatewayFromConfig(on, a.logger, undefined, {})).rejects.toThrow(ConfigError);
    expect(a.warnings().map((w) => w.msg)).toEqual([expect.stringMatching(/^ACCEPTING SOFTWARE ATTESTATION QUOTES: whoever can read the platform key/)]);
    const off = loadConfig({ env: {}, flags: { gateway: { dataDir: join(root, 'dev-off') } } });
    const b = capture();
    await expect(gatewayFromConfig(off, b.logger, undefined, {})).rejects.toThrow(ConfigError);
    expect(b.warnings()).toEqual([]);
  });

  it('the policy is pure: no production signal, no override needed; refused only for production without the override', () => {
    const base = { allowSoftwareQuotes: true, deployment: 'development' as const, nodeEnv: 'test', overrideInProduction: false };
    expect(softwareQuotePolicy(base).accept).toBe(true);
    expect(() => softwareQuotePolicy({ ...base, nodeEnv: 'production' })).toThrow(SoftwareQuotesInProductionError);
    expect(softwareQuotePolicy({ ...base, nodeEnv: 'production', overrideInProduction: true }).accept).toBe(true);
    expect(softwareQuotePolicy({ ...base, allowSoftwareQuotes: false, nodeEnv: 'production' })).toEqual({ accept: false, warning: undefined });
  });
});
