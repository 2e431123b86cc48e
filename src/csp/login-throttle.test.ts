import { describe, expect, it } from 'vitest';
import { addressKey, LoginThrottle, type ReserveOutcome } from './login-throttle.js';

const limits = { perPair: 5, perAddress: 20, perAccount: 50, windowMs: 15 * 60_000 };

/** A throttle on a clock the test moves. */
function clocked(): { t: LoginThrottle; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  return { t: new LoginThrottle(limits, () => clock.now), clock };
}

const fail = (t: LoginThrottle, account: string, address: string): ReserveOutcome => t.reserve(account, address);

describe('LoginThrottle', () => {
  it('a reservation counts as a failure at once: the 6th concurrent attempt of a pair is refused before any is settled', () => {
    const { t } = clocked();
    const held = Array.from({ length: 5 }, () => t.reserve('alice', '198.51.100.1'));
    expect(held.every((o) => o.ok)).toBe(true);
    expect(t.reserve('alice', '198.51.100.1')).toMatchObject({ ok: false, scope: 'pair', retryAfterS: 900 });
  });

  it('a success withdraws its own reservation and clears the pair, so the owner is not locked by their own typos', () => {
    const { t } = clocked();
    for (let i = 0; i < 4; i++) fail(t, 'alice', '198.51.100.1');
    const right = t.reserve('alice', '198.51.100.1');
    if (!right.ok) throw new Error('refused');
    right.reservation.succeeded();
    for (let i = 0; i < 5; i++) expect(t.reserve('alice', '198.51.100.1').ok).toBe(true);
  });

  it('failures from an attacker address do not lock the real user out of their account (the pair lock is per address)', () => {
    const { t } = clocked();
    for (let i = 0; i < 5; i++) fail(t, 'admin', '203.0.113.9');
    expect(t.reserve('admin', '203.0.113.9')).toMatchObject({ ok: false, scope: 'pair' });
    expect(t.reserve('admin', '198.51.100.1').ok).toBe(true);
  });

  it('a guess spread over many addresses hits the account limit, which still admits an address that logged in before', () => {
    const { t } = clocked();
    const owner = t.reserve('admin', '198.51.100.1');
    if (!owner.ok) throw new Error('refused');
    owner.reservation.succeeded();
    for (let i = 0; i < 50; i++) expect(t.reserve('admin', `203.0.113.${i}`).ok).toBe(true);
    expect(t.reserve('admin', '203.0.113.200')).toMatchObject({ ok: false, scope: 'account' });
    expect(t.reserve('admin', '198.51.100.1').ok).toBe(true);
  });

  it('one address spraying many accounts is stopped by the address limit', () => {
    const { t } = clocked();
    for (let i = 0; i < 20; i++) expect(t.reserve(`user${i}`, '203.0.113.9').ok).toBe(true);
    expect(t.reserve('user99', '203.0.113.9')).toMatchObject({ ok: false, scope: 'address' });
  });

  it('the window slides: attempts older than the window no longer count, and retry-after says when the oldest leaves', () => {
    const { t, clock } = clocked();
    for (let i = 0; i < 5; i++) {
      fail(t, 'bob', '198.51.100.2');
      clock.now += 60_000;
    }
    expect(t.reserve('bob', '198.51.100.2')).toMatchObject({ ok: false, retryAfterS: 600 });
    clock.now += 600_000;
    expect(t.reserve('bob', '198.51.100.2').ok).toBe(true);
  });

  it('IPv6 addresses of one /64 share counters; IPv4-mapped addresses count as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::ffff:192.0.2.4')).toBe('192.0.2.4');
    expect(addressKey('192.0.2.4')).toBe('192.0.2.4');
    const { t } = clocked();
    for (let i = 0; i < 5; i++) fail(t, 'carol', `2001:db8:1:2::${i + 1}`);
    expect(t.reserve('carol', '2001:db8:1:2::99')).toMatchObject({ ok: false, scope: 'pair' });
    expect(t.reserve('carol', '2001:db8:1:3::1').ok).toBe(true);
  });
});
