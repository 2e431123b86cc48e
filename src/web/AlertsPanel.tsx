/** Alert history in words, newest first; a clinician acknowledges an alert with an optional comment. */
import { useState } from 'react';
import { errorMessage, type ApiClient } from './api.js';
import type { AlertItem } from './alerts.js';
import type { ApiRecord } from './model.js';
import { ErrorBanner, Time } from './ui.js';

function AckButton({
  client,
  patientId,
  alert,
  onAcked,
}: {
  client: ApiClient;
  patientId: string;
  alert: AlertItem;
  onAcked: (r: ApiRecord) => void;
}) {
  const [open, setOpen] = useState(false);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!open)
    return (
      <button type="button" className="secondary small-btn" onClick={() => setOpen(true)}>
        Acknowledge
      </button>
    );
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      onAcked(
        await client.ackAlert(patientId, {
          hrv_record: alert.hrvRecordId,
          alert_type: alert.type,
          onset_ms: alert.onsetMs,
          ...(comment.trim() ? { comment: comment.trim() } : {}),
        }),
      );
      setOpen(false);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="ack-form">
      <input
        aria-label="Comment (optional)"
        placeholder="Comment (optional)"
        maxLength={1000}
        value={comment}
        onChange={(e) => setComment(e.target.value)}
      />
      <button type="button" disabled={busy} onClick={() => void save()}>
        {busy ? 'Saving…' : 'Confirm'}
      </button>
      <button type="button" className="link" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <ErrorBanner error={error} />
    </span>
  );
}

export function AlertsPanel({
  client,
  patientId,
  items,
  canAck,
  onAcked,
}: {
  client: ApiClient;
  patientId: string;
  items: readonly AlertItem[];
  canAck: boolean;
  onAcked: (r: ApiRecord) => void;
}) {
  const open = items.filter((a) => !a.ack).length;
  return (
    <section className="card" aria-labelledby="alerts-title">
      <h3 id="alerts-title">
        Alerts {open > 0 && <span className="badge alert">{open} open</span>}
      </h3>
      {items.length === 0 ? (
        <p className="muted">No alerts in the loaded period.</p>
      ) : (
        <ul className="alert-list" data-testid="alert-history">
          {items.map((a) => (
            <li key={a.key} className={a.ack ? 'acked' : 'open'}>
              <div>
                <Time ms={a.onsetMs} /> — <strong>{a.words}</strong>
                {a.active && <span className="badge alert">ongoing</span>}
              </div>
              <div className="muted small">
                {a.ack ? (
                  <>
                    Acknowledged by {a.ack.by} at <Time ms={a.ack.atMs} />
                    {a.ack.comment ? `: “${a.ack.comment}”` : ''}
                  </>
                ) : canAck ? (
                  <AckButton client={client} patientId={patientId} alert={a} onAcked={onAcked} />
                ) : (
                  'Not yet acknowledged'
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      <p className="muted small">Screening rules, not diagnoses: tachycardia above 120 bpm and bradycardia below 40 bpm over 60 s; irregular rhythm over 120 s.</p>
    </section>
  );
}
