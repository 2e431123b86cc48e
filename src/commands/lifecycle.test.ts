import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../errors.js';
import { ensurePortFree, isAddressInUse, stopOnSignal, type StopSignal } from './lifecycle.js';

describe('isAddressInUse', () => {
  it('finds EADDRINUSE on the error or anywhere in its cause chain', () => {
    const inUse = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
    expect(isAddressInUse(inUse)).toBe(true);
    expect(isAddressInUse(new Error('start failed', { cause: new Error('bind', { cause: inUse }) }))).toBe(true);
    expect(isAddressInUse(Object.assign(new Error('denied'), { code: 'EACCES' }))).toBe(false);
    expect(isAddressInUse('EADDRINUSE')).toBe(false);
  });
});

describe('ensurePortFree', () => {
  it('passes for a free port and port 0; a taken one is a one-line ConfigError naming flag and port', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      await expect(ensurePortFree('--port', 0, '127.0.0.1')).resolves.toBeUndefined();
      const err = await ensurePortFree('--port', port, '127.0.0.1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(new RegExp(`^--port ${port}: 127\\.0\\.0\\.1:${port} is already in use`));
      expect((err as Error).message).not.toContain('\n');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    // Closed again: free.
    await expect(ensurePortFree('--port', port, '127.0.0.1')).resolves.toBeUndefined();
  });
});

describe('stopOnSignal', () => {
  let s: StopSignal | undefined;
  afterEach(() => {
    s?.dispose();
    vi.restoreAllMocks();
  });

  it('resolves on the first signal, acknowledges the second, exits 130 on the third, and lets go on dispose', async () => {
    const written: string[] = [];
    const signals = new EventEmitter();
    s = stopOnSignal((t) => void written.push(t), signals);
    expect(signals.listenerCount('SIGINT')).toBe(1);
    expect(signals.listenerCount('SIGTERM')).toBe(1);
    signals.emit('SIGTERM', 'SIGTERM');
    await expect(s.stopped).resolves.toBe('SIGTERM');
    signals.emit('SIGINT', 'SIGINT');
    expect(written).toEqual(['hrvault: SIGTERM: stopping\n', expect.stringMatching(/^hrvault: SIGINT: stopping, please wait/)]);
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as () => never);
    signals.emit('SIGINT', 'SIGINT');
    expect(exit).toHaveBeenCalledWith(130);
    s.dispose();
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM')).toBe(0);
  });
});
