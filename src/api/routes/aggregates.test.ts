import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blindIndex } from '../../csp/index.js';
import { addToStoredCiphertext } from '../../test-support/access/sp-attacks.js';
import { FIXTURE_T0, makeApiFixture, type ApiFixture } from '../test-support/api-fixture.js';

let f: ApiFixture;
beforeAll(async () => {
  f = await makeApiFixture();
}, 600_000);
afterAll(async () => {
  await f?.close();
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const url = `/api/v1/patients/P-A/aggregates?metric=sdnn_ms&from=${FIXTURE_T0}&to=2026-01-02T00:00:00Z`;

describe('HTTP: aggregates the SP forged', () => {
  it(
    'a forged aggregate is answered 503 HRV_ERR_AGGREGATE_INTEGRITY with no value, later ones 503 HRV_ERR_AGGREGATES_SUSPENDED, until an admin resumes',
    async () => {
      const honest = await f.app.inject({ method: 'GET', url, headers: bearer(f.tokens.doctor) });
      expect(honest.statusCode).toBe(200);
      // The SP adds 1 s to one window's SDNN sum (slot 1 of 64-bit slots) in its own database.
      const undo = await addToStoredCiphertext(f.h.spDb, blindIndex(f.h.keys.indexKey, 'patient', 'P-A'), 1_000_000n << 64n);
      const forged = await f.app.inject({ method: 'GET', url, headers: bearer(f.tokens.doctor) });
      expect(forged.statusCode).toBe(503);
      expect(forged.json()).toMatchObject({ code: 'HRV_ERR_AGGREGATE_INTEGRITY' });
      expect(forged.json()).not.toHaveProperty('mean');
      await undo();
      const next = await f.app.inject({ method: 'GET', url: '/api/v1/aggregates?metric=sdnn_ms', headers: bearer(f.tokens.doctor) });
      expect(next.statusCode).toBe(503);
      expect(next.json()).toMatchObject({ code: 'HRV_ERR_AGGREGATES_SUSPENDED' });

      const payload = { reason: 'SP database checked against the backup' };
      expect((await f.app.inject({ method: 'POST', url: '/api/v1/aggregates/resume', headers: bearer(f.tokens.doctor), payload })).statusCode).toBe(403);
      const resumed = await f.app.inject({ method: 'POST', url: '/api/v1/aggregates/resume', headers: bearer(f.tokens.admin), payload });
      expect(resumed.statusCode).toBe(200);
      expect(resumed.json()).toEqual({ resumed: true });
      const again = await f.app.inject({ method: 'GET', url, headers: bearer(f.tokens.doctor) });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(honest.json());
    },
    600_000,
  );
});
