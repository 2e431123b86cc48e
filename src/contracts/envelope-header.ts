/** The readable, authenticated header of a sealed file (bound as HPKE AAD; times in ms). */
import { z } from 'zod';
import { WIRE_ID } from './ids.js';

/** What a sealed file carries. */
export const ENVELOPE_KINDS = ['rr-batch', 'hrv-result'] as const;
export type EnvelopeKind = (typeof ENVELOPE_KINDS)[number];

export const envelopeHeaderSchema = z.strictObject({
  v: z.literal(1),
  kind: z.enum(ENVELOPE_KINDS),
  gateway: z.string().regex(WIRE_ID, 'gateway id must be 1–64 of [A-Za-z0-9_-]'),
  patient: z.string().regex(WIRE_ID, 'patient pseudonym must be 1–64 of [A-Za-z0-9_-]'),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  t_start_ms: z.number().finite(),
  t_end_ms: z.number().finite(),
  key_id: z.string().regex(WIRE_ID, 'key id must be 1–64 of [A-Za-z0-9_-]'),
});
export type EnvelopeHeader = z.infer<typeof envelopeHeaderSchema>;
