/** What a malicious SP can do to stored aggregate ciphertexts with nothing but its database and the Paillier public key. */
import type { PublicKey } from 'paillier-bigint';
import { importPaillierPublicKey, PaillierEncryptor } from '../../crypto/index.js';
import type { SqlDb } from '../../sql/index.js';

/** The Paillier public key the CSP registered with the SP (all an SP has). */
export async function spPublicKey(spDb: SqlDb): Promise<PublicKey> {
  const [row] = await spDb.query<{ value: string }>("SELECT value FROM sp_config WHERE name = 'paillier_n'");
  return importPaillierPublicKey({ n: row!.value });
}

/**
 * Multiplies the stored aggregate ciphertext of record `which` (by sequence number) of `patientRef` by
 * Enc(m), so its plaintext becomes X + m (mod n). Returns the undo.
 */
export async function addToStoredCiphertext(spDb: SqlDb, patientRef: string, m: bigint, which = 0): Promise<() => Promise<void>> {
  const pk = await spPublicKey(spDb);
  const rows = await spDb.query<{ seq: number; ct: string }>('SELECT seq, ct FROM sp_metadata WHERE patient_ref = $1 ORDER BY seq', [patientRef]);
  const row = rows[which];
  if (!row) throw new Error(`the SP holds no aggregate ciphertext ${which} for that patient`);
  const forged = (BigInt(`0x${row.ct}`) * new PaillierEncryptor(pk).encrypt(((m % pk.n) + pk.n) % pk.n)) % (pk.n * pk.n);
  await spDb.query('UPDATE sp_metadata SET ct = $1 WHERE patient_ref = $2 AND seq = $3', [forged.toString(16), patientRef, row.seq]);
  return async () => {
    await spDb.query('UPDATE sp_metadata SET ct = $1 WHERE patient_ref = $2 AND seq = $3', [row.ct, patientRef, row.seq]);
  };
}
