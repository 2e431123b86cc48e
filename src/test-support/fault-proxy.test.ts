import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

let echo: Server | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await new Promise((r) => (echo ? echo.close(r) : r(undefined)));
});

async function setUp(): Promise<FaultProxy> {
  echo = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo!.listen(0, '127.0.0.1', r));
  proxy = await startFaultProxy((echo.address() as AddressInfo).port);
  return proxy;
}

function client(port: number): { sock: Socket; got: () => string; closed: Promise<void> } {
  const sock = connect({ host: '127.0.0.1', port });
  let got = '';
  sock.on('data', (d: Buffer) => (got += d.toString()));
  sock.on('error', () => undefined);
  return { sock, got: () => got, closed: new Promise((r) => sock.once('close', () => r())) };
}

/** Polls until `cond` holds (the proxy and the echo server answer on the same event loop; no fixed wait). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('fault proxy', () => {
  it('forwards, and a stall holds bytes without closing until heal', async () => {
    const p = await setUp();
    const c = client(p.port);
    c.sock.write('one');
    await until(() => c.got() === 'one');
    p.stall();
    c.sock.write('two');
    await until(() => c.sock.writableLength === 0);
    expect(c.got()).toBe('one');
    expect(c.sock.destroyed).toBe(false);
    p.heal();
    await until(() => c.got() === 'onetwo');
    c.sock.destroy();
  });

  it('a cut resets open connections and refuses new ones until heal', async () => {
    const p = await setUp();
    const c = client(p.port);
    c.sock.write('x');
    await until(() => c.got() === 'x');
    p.cut();
    await c.closed;
    const refused = client(p.port);
    await refused.closed;
    p.heal();
    const d = client(p.port);
    d.sock.write('back');
    await until(() => d.got() === 'back');
    d.sock.destroy();
  });

  it('heal with abandonStalled leaves old connections black-holed, new ones work', async () => {
    const p = await setUp();
    const old = client(p.port);
    old.sock.write('a');
    await until(() => old.got() === 'a');
    p.stall();
    p.heal({ abandonStalled: true });
    old.sock.write('b');
    await until(() => old.sock.writableLength === 0);
    const fresh = client(p.port);
    fresh.sock.write('c');
    await until(() => fresh.got() === 'c');
    expect(old.got()).toBe('a');
    old.sock.destroy();
    fresh.sock.destroy();
  });
});
