/** What a gateway sends the CSP with its device credential: verified results, oldest first. */
import { z } from 'zod';
import { hrvResultSchema } from './hrv-result.js';
import { personIdSchema, wireIdSchema } from './ids.js';

/** One verified result for a real patient id (the gateway maps the pseudonym back). */
export const ingestItemSchema = z.strictObject({
  patient: personIdSchema,
  result: hrvResultSchema,
});
export type IngestItem = z.infer<typeof ingestItemSchema>;

/** Most results one request carries. */
export const MAX_INGEST_ITEMS = 200;

export const ingestRequestSchema = z.strictObject({
  gateway: wireIdSchema,
  items: z.array(ingestItemSchema).min(1).max(MAX_INGEST_ITEMS),
});
export type IngestRequest = z.infer<typeof ingestRequestSchema>;

/** Per item: `stored` (new records), `duplicate` (this (gateway, patient, seq) was stored before: nothing added). */
export const ingestAnswerSchema = z.strictObject({
  outcomes: z.array(z.strictObject({ patient: personIdSchema, seq: z.number().int().min(0), outcome: z.enum(['stored', 'duplicate']) })),
});
export type IngestAnswer = z.infer<typeof ingestAnswerSchema>;
