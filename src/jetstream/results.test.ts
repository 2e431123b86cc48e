/** Reading the results stream's messages and the attestation reply without a server: what is accepted, what is refused. */
import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import {
  H_GATEWAY,
  H_PATIENT,
  H_RESULT,
  H_SEQ,
  H_TOKEN,
  readAttestReply,
  readResultsMessage,
} from './index.js';

const enc = (v: unknown): Uint8Array =>
  new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

function resultHeaders(over: Record<string, string> = {}) {
  const h = headers();
  const all: Record<string, string> = {
    [H_GATEWAY]: 'gw-1',
    [H_RESULT]: 'p1-4.result',
    [H_PATIENT]: 'p1',
    [H_SEQ]: '4',
    [H_TOKEN]: '2',
    ...over,
  };
  for (const [k, v] of Object.entries(all)) h.set(k, v);
  return h;
}

describe('readResultsMessage', () => {
  it('reads a result and a refusal on their gateway subjects', () => {
    expect(
      readResultsMessage('hv', { subject: 'hv.results.gw-1', headers: resultHeaders(), data: enc('x') }),
    ).toEqual({
      kind: 'result',
      headers: { gateway: 'gw-1', result: 'p1-4.result', patient: 'p1', seq: 4, token: 2 },
      bytes: enc('x'),
    });
    const refusal = {
      gateway: 'gw-1',
      file: 'p1-4.rrb',
      code: 'HRV_ERR_SEQUENCE_REPLAY',
      reason: 'seen',
      token: 2,
    };
    expect(
      readResultsMessage('hv', { subject: 'hv.refusals.gw-1', headers: undefined, data: enc(refusal) }),
    ).toEqual({
      kind: 'refusal',
      refusal,
    });
  });

  it.each([
    ['another prefix', 'xx.results.gw-1', resultHeaders(), enc('x')],
    ['an unknown kind', 'hv.other.gw-1', resultHeaders(), enc('x')],
    ['a header gateway other than the subject', 'hv.results.gw-2', resultHeaders(), enc('x')],
    [
      'a sequence number that is not a number',
      'hv.results.gw-1',
      resultHeaders({ [H_SEQ]: '4e3' }),
      enc('x'),
    ],
    [
      'a result name with a path',
      'hv.results.gw-1',
      resultHeaders({ [H_RESULT]: '../p1-4.result' }),
      enc('x'),
    ],
    ['token 0 (no lease)', 'hv.results.gw-1', resultHeaders({ [H_TOKEN]: '0' }), enc('x')],
    ['an empty body', 'hv.results.gw-1', resultHeaders(), new Uint8Array(0)],
    ['a refusal that is not JSON', 'hv.refusals.gw-1', undefined, enc('{')],
    [
      'a refusal with an unknown code',
      'hv.refusals.gw-1',
      undefined,
      enc({ gateway: 'gw-1', file: 'a.rrb', code: 'HRV_ERR_NOPE', reason: '', token: 1 }),
    ],
    [
      'a refusal for another gateway',
      'hv.refusals.gw-2',
      undefined,
      enc({ gateway: 'gw-1', file: 'a.rrb', code: 'HRV_ERR_CONTRACT', reason: '', token: 1 }),
    ],
  ])('refuses %s with HRV_ERR_CONTRACT', (_what, subject, h, data) => {
    expect(() => readResultsMessage('hv', { subject, headers: h, data })).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_CONTRACT' }),
    );
  });
});

describe('readAttestReply', () => {
  it('reads a quote (any further fields, for the gateway to verify) or an error', () => {
    const quote = { v: 1, backend: 'software', nonce: 'ab'.repeat(32), signature: '00' };
    expect(readAttestReply(enc(quote))).toEqual(quote);
    const error = { error: { code: 'HRV_ERR_ENCLAVE', message: 'no keys yet' } };
    expect(readAttestReply(enc(error))).toEqual(error);
  });

  it.each([
    ['not JSON', enc('quote')],
    ['another version', enc({ v: 2, nonce: 'ab'.repeat(32) })],
    ['a short nonce', enc({ v: 1, nonce: 'abcd' })],
    ['an unknown error code', enc({ error: { code: 'HRV_ERR_NOPE', message: '' } })],
  ])('refuses %s with HRV_ERR_CONTRACT', (_what, data) => {
    expect(() => readAttestReply(data)).toThrow(expect.objectContaining({ code: 'HRV_ERR_CONTRACT' }));
  });
});
