/** Role forms on a patient: prescription (doctor), note (doctor, health worker), vitals and RR-file upload (health worker). */
import { useState, type FormEvent } from 'react';
import type { ApiClient } from './api.js';
import { errorMessage } from './api.js';
import { RECORD_UPLOAD_LIMIT, uploadSizeProblem, type ClinicalRecord } from './model.js';
import { ErrorBanner, Field, Notice } from './ui.js';

type Props = { client: ApiClient; patientId: string; onAdded: (r: ClinicalRecord) => void };

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
  return { busy, error, notice, run };
}

export function PrescriptionForm({ client, patientId, onAdded }: Props) {
  const [medication, setMedication] = useState('');
  const [dose, setDose] = useState('');
  const [validUntil, setValidUntil] = useState('');
  const [text, setText] = useState('');
  const s = useSubmit();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void s.run(async () => {
      const rec = await client.prescribe(patientId, {
        text: text.trim(),
        ...(medication.trim() ? { medication: medication.trim() } : {}),
        ...(dose.trim() ? { dose: dose.trim() } : {}),
        ...(validUntil ? { valid_until: validUntil } : {}),
      });
      onAdded(rec);
      setMedication('');
      setDose('');
      setValidUntil('');
      setText('');
      return 'Prescription saved.';
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="rx-title">
      <h3 id="rx-title">New prescription</h3>
      <div className="row">
        <Field label="Medication">
          <input
            name="medication"
            maxLength={200}
            value={medication}
            onChange={(e) => setMedication(e.target.value)}
          />
        </Field>
        <Field label="Dose">
          <input name="dose" maxLength={200} value={dose} onChange={(e) => setDose(e.target.value)} />
        </Field>
        <Field label="Valid until">
          <input
            name="valid_until"
            type="date"
            value={validUntil}
            onChange={(e) => setValidUntil(e.target.value)}
          />
        </Field>
      </div>
      <Field label="Instructions">
        <textarea
          name="text"
          required
          maxLength={4000}
          rows={3}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
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
  const [text, setText] = useState('');
  const s = useSubmit();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void s.run(async () => {
      onAdded(await client.appendRecord(patientId, { type: 'note', data: { text: text.trim() } }));
      setText('');
      return 'Note saved.';
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="note-title">
      <h3 id="note-title">New note</h3>
      <Field label="Note">
        <textarea
          name="note"
          required
          maxLength={4000}
          rows={3}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </Field>
      <ErrorBanner error={s.error} />
      <Notice text={s.notice} />
      <button type="submit" disabled={s.busy}>
        {s.busy ? 'Saving…' : 'Add note'}
      </button>
    </form>
  );
}

const VITALS: Array<{ key: string; label: string; min: number; max: number; step: string }> = [
  { key: 'hr_bpm', label: 'Heart rate (bpm)', min: 20, max: 300, step: '1' },
  { key: 'systolic_mmhg', label: 'Systolic (mmHg)', min: 40, max: 300, step: '1' },
  { key: 'diastolic_mmhg', label: 'Diastolic (mmHg)', min: 20, max: 200, step: '1' },
  { key: 'spo2_pct', label: 'SpO₂ (%)', min: 50, max: 100, step: '1' },
  { key: 'temperature_c', label: 'Temperature (°C)', min: 30, max: 45, step: '0.1' },
];

export function UploadForm({ client, patientId, onAdded }: Props) {
  const [kind, setKind] = useState<'vitals' | 'rr_file'>('vitals');
  const [vitals, setVitals] = useState<Record<string, string>>({});
  const [file, setFile] = useState<File | null>(null);
  const s = useSubmit();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void s.run(async () => {
      if (kind === 'vitals') {
        const data: Record<string, number> = {};
        for (const v of VITALS) {
          const raw = (vitals[v.key] ?? '').trim();
          if (raw === '') continue;
          const n = Number(raw);
          if (!Number.isFinite(n) || n < v.min || n > v.max)
            throw new Error(`${v.label}: must be a number from ${v.min} to ${v.max}`);
          data[v.key] = n;
        }
        if (Object.keys(data).length === 0) throw new Error('Enter at least one vital sign.');
        onAdded(await client.appendRecord(patientId, { type: 'vitals', data }));
        setVitals({});
        return 'Vitals saved.';
      }
      if (!file) throw new Error('Choose an RR-interval file.');
      if (file.size > RECORD_UPLOAD_LIMIT)
        throw new Error(uploadSizeProblem({ text: 'x'.repeat(file.size) }) ?? 'The file is too large.');
      const text = await file.text();
      const body = { type: 'rr_file' as const, data: { filename: file.name, text } };
      const tooBig = uploadSizeProblem(body);
      if (tooBig) throw new Error(tooBig);
      onAdded(await client.appendRecord(patientId, body));
      setFile(null);
      return `${file.name} uploaded.`;
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="upload-title">
      <h3 id="upload-title">Upload data</h3>
      <fieldset className="row plain">
        <legend className="sr-only">What to upload</legend>
        <label className="inline">
          <input type="radio" name="kind" checked={kind === 'vitals'} onChange={() => setKind('vitals')} />{' '}
          Vital signs
        </label>
        <label className="inline">
          <input type="radio" name="kind" checked={kind === 'rr_file'} onChange={() => setKind('rr_file')} />{' '}
          RR-interval file
        </label>
      </fieldset>
      {kind === 'vitals' ? (
        <div className="row">
          {VITALS.map((v) => (
            <Field key={v.key} label={v.label}>
              <input
                type="number"
                inputMode="decimal"
                min={v.min}
                max={v.max}
                step={v.step}
                value={vitals[v.key] ?? ''}
                onChange={(e) => setVitals((p) => ({ ...p, [v.key]: e.target.value }))}
              />
            </Field>
          ))}
        </div>
      ) : (
        <Field
          label="RR file (text, one interval in ms per line)"
          hint={`At most ${RECORD_UPLOAD_LIMIT / 1024 / 1024} MiB.`}
        >
          <input
            type="file"
            accept=".txt,.csv,.rr,text/plain,text/csv"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
        </Field>
      )}
      <ErrorBanner error={s.error} />
      <Notice text={s.notice} />
      <button type="submit" disabled={s.busy}>
        {s.busy ? 'Uploading…' : 'Upload'}
      </button>
    </form>
  );
}
