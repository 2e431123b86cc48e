/**
 * The CSP's tables, in one place: the schema of component `csp` in its database's schema_migrations, brought
 * up to date by `migrate` when the CSP starts (CspService.create) or its audit log is opened alone (AuditLog.open).
 */
import { validateMigrations } from '../sql/index.js';

// Migration 1 is the DDL the CSP's modules each ran at start before migrations existed, byte for byte and still
// IF NOT EXISTS (two statements gained the ';' that joining them needs), so a database that code created is
// adopted as version 1 as it is. Released migrations are never edited (their checksum is in every database they
// ran on): a change of schema is a new entry at the end of CSP_MIGRATIONS.
const INITIAL_TABLES = [
  // The CSP's own index of what it stored (sequence number, type, time): with it a filtered answer from the
  // SP can be checked for withheld or extra records, which the hash chain alone shows only on a full read.
  // Appends in flight, idempotency keys and records found lost (src/csp/csp-service.ts).
  `CREATE TABLE IF NOT EXISTS csp_chain_heads (patient_ref TEXT PRIMARY KEY, seq INTEGER NOT NULL, chain TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS csp_record_index (patient_ref TEXT NOT NULL, seq INTEGER NOT NULL, type_tag TEXT NOT NULL,
  t_ms BIGINT NOT NULL, has_meta BOOLEAN NOT NULL, PRIMARY KEY (patient_ref, seq));
CREATE INDEX IF NOT EXISTS csp_record_index_time ON csp_record_index (patient_ref, t_ms);
ALTER TABLE csp_record_index ADD COLUMN IF NOT EXISTS chain TEXT;
ALTER TABLE csp_record_index ADD COLUMN IF NOT EXISTS audit_seq INTEGER;
CREATE INDEX IF NOT EXISTS csp_record_index_audit ON csp_record_index (audit_seq);
CREATE TABLE IF NOT EXISTS csp_append_intents (patient_ref TEXT PRIMARY KEY, base_seq INTEGER NOT NULL, base_chain TEXT NOT NULL,
  end_seq INTEGER NOT NULL, end_chain TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS csp_idempotency (idem_ref TEXT PRIMARY KEY, body_hash TEXT NOT NULL, patient_ref TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS csp_lost_records (patient_ref TEXT NOT NULL, seq INTEGER NOT NULL, type_tag TEXT NOT NULL, t_ms BIGINT NOT NULL,
  audit_seq INTEGER, lost_audit_seq INTEGER NOT NULL);`,
  // The hash-chained audit log and its MACed checkpoint (src/csp/audit.ts).
  `CREATE TABLE IF NOT EXISTS csp_audit (
  seq INTEGER PRIMARY KEY, t_ms BIGINT NOT NULL, entry TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS csp_audit_checkpoint (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL);`,
  // Refresh tokens, stored hashed, by login session (src/csp/tokens.ts).
  `CREATE TABLE IF NOT EXISTS csp_refresh (
  token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, user_id TEXT NOT NULL, expires_ms BIGINT NOT NULL,
  used BOOLEAN NOT NULL DEFAULT FALSE, revoked BOOLEAN NOT NULL DEFAULT FALSE);
CREATE INDEX IF NOT EXISTS csp_refresh_family ON csp_refresh (family);`,
  // Device-token ids seen within their lifetime, against replay (src/csp/devices.ts).
  `CREATE TABLE IF NOT EXISTS csp_device_jti (device_id TEXT NOT NULL, jti TEXT NOT NULL, expires_s BIGINT NOT NULL,
  PRIMARY KEY (device_id, jti));
CREATE INDEX IF NOT EXISTS csp_device_jti_exp ON csp_device_jti (expires_s);`,
  // Sealed per-patient summaries (src/csp/summaries.ts).
  `CREATE TABLE IF NOT EXISTS csp_patient_summary (patient_ref TEXT PRIMARY KEY, blob BYTEA NOT NULL);`,
  // Grants of access awaiting a second admin (src/csp/grants.ts).
  `CREATE TABLE IF NOT EXISTS csp_grants (grant_id TEXT PRIMARY KEY, state TEXT NOT NULL, requested_ms BIGINT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS csp_grants_state ON csp_grants (state, requested_ms);`,
  // High-water marks of the SP's entries, against rollback (src/csp/freshness.ts).
  `CREATE TABLE IF NOT EXISTS csp_high_water (kind TEXT NOT NULL, ref TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (kind, ref));`,
  // Aggregates suspended after a forged one (src/csp/aggregates.ts).
  `CREATE TABLE IF NOT EXISTS csp_aggregate_suspension (sp_id TEXT PRIMARY KEY, since_ms BIGINT NOT NULL, reason TEXT NOT NULL);`,
].join('\n');

/** The CSP's schema, component `csp`. */
export const CSP_MIGRATIONS = validateMigrations('csp', [{ version: 1, name: 'initial tables', up: INITIAL_TABLES }]);
