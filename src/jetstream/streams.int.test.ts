/**
 * createdConcurrently against the shared nats-server (skipped with a printed reason where none answers): the server's
 * "subjects overlap" answer (10065) to a create counts as done only when the stream by that name exists.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createdConcurrently } from './index.js';
import { standaloneSkipReason, useStandalone } from './test-support/standalone.js';

const skipReason = await standaloneSkipReason();

describe.skipIf(skipReason !== null)('createdConcurrently', () => {
  const s = useStandalone();

  it('takes a subjects-overlap refusal as done when the named stream exists, and only then', async () => {
    const name = `ovl_${randomBytes(4).toString('hex')}`;
    s.streams.push(name);
    await s.jsm.streams.add({ name, subjects: [`${name}.>`] });
    const overlap = await s.jsm.streams.add({ name: `${name}_other`, subjects: [`${name}.a`] }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(String(overlap)).toMatch(/overlap/);
    expect(await createdConcurrently(s.jsm, name, overlap)).toBe(true);
    expect(await createdConcurrently(s.jsm, `${name}_other`, overlap)).toBe(false);
    expect(await createdConcurrently(s.jsm, name, new Error('something else'))).toBe(false);
  });
});
