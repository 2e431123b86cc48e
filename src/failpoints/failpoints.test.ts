import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FailpointError, armFailpoints, failpoint, parseFailpointSpec } from './failpoints.js';

describe('failpoints', () => {
  it('are inert unless armed', () => {
    armFailpoints('');
    expect(() => failpoint('gateway.cut.after-pending-write')).not.toThrow();
  });

  it('fire on the chosen hit only', () => {
    armFailpoints('csp.after-index=error@2');
    expect(() => failpoint('csp.after-index')).not.toThrow();
    expect(() => failpoint('csp.after-index')).toThrow(FailpointError);
    expect(() => failpoint('csp.after-index')).not.toThrow();
    armFailpoints('');
  });

  it('refuse unknown names and actions, naming the entry', () => {
    expect(() => parseFailpointSpec('gateway.nowhere=crash')).toThrow(/unknown failpoint gateway\.nowhere/);
    expect(() => parseFailpointSpec('csp.after-index=explode')).toThrow(/action must be one of/);
    expect(() => parseFailpointSpec('csp.after-index')).toThrow(/expected name=action/);
  });

  it('refuse to arm in production', () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      expect(() => armFailpoints('csp.after-index=crash')).toThrow(/production/);
    } finally {
      process.env.NODE_ENV = before;
    }
  });

  it('crash kills the process with SIGKILL at the point, from the environment', () => {
    const code = `import { failpoint } from './src/failpoints/index.ts'; console.log('before'); failpoint('enclave.after-seal'); console.log('after');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, HRVAULT_FAILPOINTS: 'enclave.after-seal=crash' },
      encoding: 'utf8',
    });
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).toBe('before\n');
  });
});
