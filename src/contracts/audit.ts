/** The audit-log search the API answers and the dashboard's audit viewer asks (times in ms since the epoch). */
export interface AuditQuery {
  /** Free text matched against actor, action and target. */
  q?: string;
  actor?: string;
  action?: string;
  outcome?: string;
  from_ms?: number;
  to_ms?: number;
  offset?: number;
  limit?: number;
}
