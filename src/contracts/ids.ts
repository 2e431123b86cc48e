/** Identifier shapes shared by every boundary. */
import { z } from 'zod';

/** Gateway ids, patient pseudonyms and key ids inside sealed files: 1–64 of [A-Za-z0-9_-]. */
export const WIRE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** File names in a gateway's inbox and outbox (SFTP, work messages): a letter or digit, then letters, digits, `.`, `_`, `-`; at most 128. */
export const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Patient and user ids at the CSP: 1–64 of [A-Za-z0-9_.-]. */
export const PERSON_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export const wireIdSchema = z.string().regex(WIRE_ID, 'must be 1–64 of [A-Za-z0-9_-]');
export const personIdSchema = z.string().regex(PERSON_ID, 'must be 1–64 of [A-Za-z0-9_.-]');

/** A time in ms since the Unix epoch (finite; from 2000 to 2200, so a seconds or a relative value is refused). */
export const epochMsSchema = z
  .number()
  .finite()
  .min(946_684_800_000, 'must be ms since the epoch (after 2000-01-01)')
  .max(7_258_118_400_000, 'must be ms since the epoch (before 2200-01-01)');
