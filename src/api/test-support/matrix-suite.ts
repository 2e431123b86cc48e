/** The access-control matrix as a reusable suite, run on the embedded database and on PostgreSQL. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_MATRIX, makeApiFixture, type Actor, type ApiFixture } from './api-fixture.js';

const ACTORS: Actor[] = ['anonymous', 'patient', 'health_worker', 'doctor', 'admin'];

export function accessMatrixSuite(name: string, spLocation: string): void {
  describe(`access matrix (${name})`, () => {
    let f: ApiFixture;
    beforeAll(async () => {
      f = await makeApiFixture(spLocation);
    });
    afterAll(async () => {
      await f?.close();
    });

    for (const row of ACCESS_MATRIX) {
      for (const actor of ACTORS) {
        it(`${actor} → ${row.endpoint}: own ${row.expect[actor][0]}, other ${row.expect[actor][1]}`, async () => {
          const statuses: number[] = [];
          for (const patient of ['P-A', 'P-B']) {
            const res = await f.app.inject({
              method: row.method,
              url: row.url(patient, f),
              headers: actor === 'anonymous' ? {} : { authorization: `Bearer ${f.tokens[actor]}` },
              ...(row.body !== undefined ? { payload: row.body as object } : {}),
            });
            if (res.statusCode >= 400) expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
            statuses.push(res.statusCode);
          }
          expect(statuses).toEqual(row.expect[actor]);
        });
      }
    }

    it('every denial is in the audit log', async () => {
      const denied = (await f.h.csp.audit.entries(1, 10_000)).filter((e) => e.outcome === 'denied');
      expect(denied.length).toBeGreaterThanOrEqual(20);
    });
  });
}
