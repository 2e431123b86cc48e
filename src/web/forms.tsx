/**
 * Role forms on a patient: prescription (doctor), note (doctor, health worker), vitals and file upload
 * (health worker). What is typed is kept as a draft in sessionStorage until it is saved, so an expired
 * session loses nothing. Uploads show their progress and the server's parser error as it was returned.
 */
import { useState, type FormEvent } from 'react';
import { VITALS_LIMITS, type VitalsData } from '../contracts/index.js';
import { ApiError, errorMessage, type ApiClient } from './api.js';
import { RECORD_UPLOAD_LIMIT, checkVitals, parseLocalDateTime, uploadSizeProblem, type ApiRecord } from './model.js';
import { ErrorBanner, Field, Notice, useDraft } from './ui.js';

type Props = { client: ApiClient; patientId: string; onAdded: (r: ApiRecord) => void };

/** Runs a submit with busy/error/notice state. */
function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const run = async (fn: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      setNotice(await fn());
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, notice, run, setError };
}

const RX_EMPTY = { medication: '', dose: '', valid_until: '', text: '' };

export function PrescriptionForm({ client, patientId, onAdded }: Props) {
  const [rx, setRx, clear] = useDraft('prescription', patientId, RX_EMPTY);
  const s = useSubmit();
  const set = (k: keyof typeof RX_EMPTY) => (e: { target: { value: string } }) =>
    setRx((p) => ({ ...p, [k]: e.target.value }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void s.run(async () => {
      const rec = await client.prescribe(patientId, {
        text: rx.text.trim(),
        ...(rx.medication.trim() ? { medication: rx.medication.trim() } : {}),
        ...(rx.dose.trim() ? { dose: rx.dose.trim() } : {}),
        ...(rx.valid_until ? { valid_until: rx.valid_until } : {}),
      });
      onAdded(rec);
      clear();
      return 'Prescription saved.';
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="rx-title">
      <h3 id="rx-title">New prescription</h3>
      <div className="row">
        <Field label="Medication">
          <input name="medication" maxLength={200} value={rx.medication} onChange={set('medication')} />
        </Field>
        <Field label="Dose">
          <input name="dose" maxLength={200} value={rx.dose} onChange={set('dose')} />
        </Field>
        <Field label="Valid until">
          <input name="valid_until" type="date" value={rx.valid_until} onChange={set('valid_until')} />
        </Field>
      </div>
      <Field label="Instructions">
        <textarea name="text" required maxLength={4000} rows={3} value={rx.text} onChange={set('text')} />
      </Field>
      <ErrorBanner error={s.error} />
      <Notice text={s.notice} />
      <button type="submit" disabled={s.busy}>
        {s.busy ? 'Saving…' : 'Prescribe'}
      </button>
    </form>
  );
}

export function NoteForm({ client, patientId, onAdded }: Props) {
  const [text, setText, clear] = useDraft('note', patientId, '');
  const s = useSubmit();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void s.run(async () => {
      onAdded(await client.appendRecord(patientId, { type: 'note', data: { text: text.trim() } }));
      clear();
      return 'Note saved.';
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="note-title">
      <h3 id="note-title">New note</h3>
      <Field label="Note">
        <textarea name="note" required maxLength={4000} rows={3} value={text} onChange={(e) => setText(e.target.value)} />
      </Field>
      <ErrorBanner error={s.error} />
      <Notice text={s.notice} />
      <button type="submit" disabled={s.busy}>
        {s.busy ? 'Saving…' : 'Add note'}
      </button>
    </form>
  );
}

const VITAL_FIELDS: Array<{ key: keyof VitalsData; step: string }> = [
  { key: 'hr_bpm', step: '1' },
  { key: 'systolic_mmhg', step: '1' },
  { key: 'diastolic_mmhg', step: '1' },
  { key: 'spo2_pct', step: '1' },
  { key: 'temperature_c', step: '0.1' },
];

/** Field labels, as the existing pages and tests name them. */
const VITAL_LABEL: Record<keyof VitalsData, string> = {
  hr_bpm: 'Heart rate (bpm)',
  systolic_mmhg: 'Systolic (mmHg)',
  diastolic_mmhg: 'Diastolic (mmHg)',
  spo2_pct: 'SpO₂ (%)',
  temperature_c: 'Temperature (°C)',
};

type Kind = 'vitals' | 'rr_file' | 'ecg_file';

export function UploadForm({ client, patientId, onAdded }: Props) {
  const [kind, setKind] = useState<Kind>('vitals');
  const [vitals, setVitals, clearVitals] = useDraft<Partial<Record<keyof VitalsData, string>>>('vitals', patientId, {});
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<keyof VitalsData | 'form', string>>>({});
  const [file, setFile] = useState<File | null>(null);
  const [fsHz, setFsHz] = useState('');
  const [startAt, setStartAt] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const [uploadError, setUploadError] = useState<string | null>(null);
  const s = useSubmit();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setUploadError(null);
    if (kind === 'vitals') {
      const c = checkVitals(vitals);
      if (!c.ok) {
        setFieldErrors(c.errors);
        s.setError(c.errors.form ?? 'Check the values marked in red.');
        return;
      }
      setFieldErrors({});
      void s.run(async () => {
        onAdded(await client.appendRecord(patientId, { type: 'vitals', data: c.data }));
        clearVitals();
        return 'Vitals saved.';
      });
      return;
    }
    void s.run(async () => {
      if (!file) throw new Error(kind === 'rr_file' ? 'Choose an RR-interval file.' : 'Choose an ECG file.');
      if (file.size > RECORD_UPLOAD_LIMIT)
        throw new Error(uploadSizeProblem({ text: 'x'.repeat(file.size) }) ?? 'The file is too large.');
      const text = await file.text();
      const fs = fsHz.trim() === '' ? undefined : Number(fsHz);
      if (fs !== undefined && !(fs > 0 && fs <= 10_000)) throw new Error('Sampling rate: a number of Hz from 1 to 10000.');
      // The recording's start (the server otherwise takes the recording to end now).
      const start = parseLocalDateTime('Recording start', startAt);
      const body = {
        type: kind,
        ...(start !== undefined ? { t_ms: start } : {}),
        data: { filename: file.name, text, ...(kind === 'ecg_file' && fs !== undefined ? { fs_hz: fs } : {}) },
      };
      const tooBig = uploadSizeProblem(body);
      if (tooBig) throw new Error(tooBig);
      try {
        const rec = await client.uploadRecord(patientId, body, setProgress);
        onAdded(rec);
      } catch (err) {
        // The parser's message exactly as the server returned it (problem+json detail).
        if (err instanceof ApiError) {
          setUploadError(err.detail);
          setProgress(null);
          return `The server did not accept ${file.name}.`;
        }
        throw err;
      }
      setFile(null);
      return `${file.name} uploaded.`;
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="upload-title" noValidate>
      <h3 id="upload-title">Upload data</h3>
      <fieldset className="row plain">
        <legend className="sr-only">What to upload</legend>
        {(
          [
            ['vitals', 'Vital signs'],
            ['rr_file', 'RR-interval file'],
            ['ecg_file', 'ECG file'],
          ] as const
        ).map(([k, label]) => (
          <label key={k} className="inline">
            <input
              type="radio"
              name="kind"
              checked={kind === k}
              onChange={() => {
                setKind(k);
                setProgress(null);
                setUploadError(null);
              }}
            />{' '}
            {label}
          </label>
        ))}
      </fieldset>
      {kind === 'vitals' ? (
        <div className="row">
          {VITAL_FIELDS.map((v) => {
            const [min, max] = VITALS_LIMITS[v.key];
            return (
              <Field key={v.key} label={VITAL_LABEL[v.key]} error={fieldErrors[v.key]}>
                <input
                  type="number"
                  inputMode="decimal"
                  min={min}
                  max={max}
                  step={v.step}
                  aria-invalid={fieldErrors[v.key] ? true : undefined}
                  value={vitals[v.key] ?? ''}
                  onChange={(e) => {
                    setVitals((p) => ({ ...p, [v.key]: e.target.value }));
                    setFieldErrors((p) => ({ ...p, [v.key]: undefined }));
                  }}
                />
              </Field>
            );
          })}
        </div>
      ) : (
        <div className="row">
          <Field
            label={kind === 'rr_file' ? 'RR file (CSV time_ms,rr_ms, Polar or Kubios text)' : 'ECG file (t_s,mV or one sample per line)'}
            hint={`At most ${RECORD_UPLOAD_LIMIT / 1024 / 1024} MiB.`}
          >
            <input
              type="file"
              accept=".txt,.csv,.rr,.dat,text/plain,text/csv"
              onChange={(e) => {
                setFile(e.target.files?.[0] ?? null);
                setProgress(null);
                setUploadError(null);
              }}
            />
          </Field>
          <Field label="Recording start" hint="Local time; empty: the recording ended just now.">
            <input type="datetime-local" step={1} value={startAt} onChange={(e) => setStartAt(e.target.value)} />
          </Field>
          {kind === 'ecg_file' && (
            <Field label="Sampling rate (Hz)" hint="Only if the file has no time column.">
              <input type="number" min={1} max={10000} value={fsHz} onChange={(e) => setFsHz(e.target.value)} />
            </Field>
          )}
        </div>
      )}
      {progress !== null && (
        <div className="progress">
          <progress max={1} value={progress} aria-label="Upload progress" data-testid="upload-progress" />
          <span className="muted small">{Math.round(progress * 100)}%</span>
        </div>
      )}
      {uploadError && (
        <div className="banner error" role="alert">
          <span>
            The file was refused: <code data-testid="upload-error">{uploadError}</code>
          </span>
        </div>
      )}
      <ErrorBanner error={s.error} />
      <Notice text={uploadError ? null : s.notice} />
      <button type="submit" disabled={s.busy}>
        {s.busy ? 'Uploading…' : 'Upload'}
      </button>
    </form>
  );
}
