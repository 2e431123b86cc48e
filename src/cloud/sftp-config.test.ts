/** The cloud's SFTP limit and retention keys: safe defaults, and bad values refused at start-up naming the key. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, loadConfig } from '../config.js';
import { DEFAULT_RETENTION, DEFAULT_SFTP_LIMITS } from './index.js';

describe('cloud SFTP limit and retention config', () => {
  it('defaults bound every SFTP resource and match the server defaults', () => {
    const c = loadConfig({ env: {} }).cloud;
    expect({
      maxHandlesPerSession: c.sftpMaxHandlesPerSession,
      maxSessionsPerGateway: c.sftpMaxSessionsPerGateway,
      maxConnectionsPerAddress: c.sftpMaxConnectionsPerAddress,
      maxConnections: c.sftpMaxConnections,
      authTimeoutMs: c.sftpAuthTimeoutMs,
      idleTimeoutMs: c.sftpIdleTimeoutMs,
    }).toEqual(DEFAULT_SFTP_LIMITS);
    expect({ tempRetentionMs: c.tempRetentionS * 1000, quarantineRetentionMs: c.quarantineRetentionS * 1000, sweepIntervalMs: c.retentionSweepIntervalS * 1000 }).toEqual(DEFAULT_RETENTION);
    expect(DEFAULT_CONFIG.cloud.sftpIdleTimeoutMs).toBeGreaterThan(DEFAULT_CONFIG.cloud.batchIntervalMs);
  });

  it('refuses an unbounded or inconsistent limit at start-up, naming the key and its source', () => {
    expect(() => loadConfig({ env: { HRVAULT_CLOUD_SFTP_MAX_HANDLES_PER_SESSION: '0' } })).toThrow(/cloud\.sftpMaxHandlesPerSession \(from environment HRVAULT_CLOUD_SFTP_MAX_HANDLES_PER_SESSION\)/);
    expect(() => loadConfig({ env: { HRVAULT_CLOUD_SFTP_AUTH_TIMEOUT_MS: '10000000' } })).toThrow(/cloud\.sftpAuthTimeoutMs/);
    expect(() => loadConfig({ flags: { cloud: { sftpMaxConnectionsPerAddress: 500, sftpMaxConnections: 100 } } })).toThrow(/cloud\.sftpMaxConnectionsPerAddress.*must not exceed cloud\.sftpMaxConnections/);
    expect(() => loadConfig({ flags: { cloud: { sftpIdleTimeoutMs: 5000, batchIntervalMs: 10_000 } } })).toThrow(/cloud\.sftpIdleTimeoutMs.*must exceed cloud\.batchIntervalMs/);
    expect(() => loadConfig({ flags: { cloud: { tempRetentionS: 1 } } })).toThrow(/cloud\.tempRetentionS/);
  });
});
