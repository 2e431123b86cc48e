/**
 * Login throttling holds under concurrency: an attempt is reserved (counted as a failure) before the
 * password hash is checked, so parallel guesses cannot all pass the check before any failure is recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, ThrottledError } from './errors.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';

const PW = 'correct horse battery staple';
let h: Harness;

beforeAll(async () => {
  h = await makeHarness('memory:');
  await h.csp.registerUser('bootstrap', { username: 'victim', password: PW, role: 'doctor' });
}, 300_000);

afterAll(async () => {
  await h?.close();
});

describe('login throttling under concurrency', () => {
  it('40 parallel logins from one address with limit 5: the 40th (right password) is refused and at most 5 passwords are verified', async () => {
    const attempts = Array.from({ length: 40 }, (_, i) => h.csp.login('victim', i === 39 ? PW : `wrong password ${i}!`, '203.0.113.7'));
    const outcomes = await Promise.allSettled(attempts);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(0);
    const reasons = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as unknown) : undefined));
    expect(reasons.filter((r) => r instanceof AuthError)).toHaveLength(5);
    expect(reasons.filter((r) => r instanceof ThrottledError)).toHaveLength(35);
    expect(reasons[39]).toBeInstanceOf(ThrottledError);
    // Every password verification ends in one audit entry: 'bad credentials' (denied) or a login (ok).
    const verified = (await h.csp.audit.entries()).filter(
      (e) => e.action === 'auth.login' && e.actor !== 'bootstrap' && (e.outcome === 'ok' || (e.detail as { reason?: string } | undefined)?.reason === 'bad credentials'),
    );
    expect(verified).toHaveLength(5);
  });
});
