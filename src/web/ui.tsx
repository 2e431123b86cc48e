/** Small shared pieces: error and status banners, a labelled field, a time, drafts that survive a lost session. */
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { fmtDateTime } from './format.js';
import { draftKey, readDraft, writeDraft, type DraftStore } from './drafts.js';

export function ErrorBanner({
  error,
  onDismiss,
  testId,
}: {
  error: string | null;
  onDismiss?: () => void;
  testId?: string;
}) {
  if (!error) return null;
  return (
    <div className="banner error" role="alert" data-testid={testId}>
      <span>{error}</span>
      {onDismiss && (
        <button type="button" className="link" onClick={onDismiss} aria-label="Dismiss error">
          ×
        </button>
      )}
    </div>
  );
}

export function Notice({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <div className="banner ok" role="status">
      {text}
    </div>
  );
}

export function Field({
  label,
  children,
  hint,
  error,
}: {
  label: string;
  children: ReactNode;
  hint?: string;
  error?: string | undefined;
}) {
  return (
    <label className={error ? 'field invalid' : 'field'}>
      <span className="field-label">{label}</span>
      {children}
      {hint && !error && <span className="hint">{hint}</span>}
      {error && <span className="field-error">{error}</span>}
    </label>
  );
}

/** A time in the dashboard's one format, as a <time> element. */
export function Time({ ms }: { ms: number | null | undefined }) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return <span>—</span>;
  return <time dateTime={new Date(ms).toISOString()}>{fmtDateTime(ms)}</time>;
}

const session: DraftStore | null = typeof sessionStorage === 'undefined' ? null : sessionStorage;

/**
 * A form value kept in sessionStorage while it is typed, so an expired session (or a reload) does not lose
 * it; `clear` after a successful save. Never used for tokens.
 */
export function useDraft<T>(form: string, scope: string, initial: T): [T, (v: T | ((p: T) => T)) => void, () => void] {
  const key = draftKey(form, scope);
  const [value, setValue] = useState<T>(() => readDraft(session, key, initial));
  useEffect(() => {
    writeDraft(session, key, value, initial);
    // `initial` is a constant of the caller.
  }, [key, value]);
  const clear = useCallback(() => setValue(initial), [initial]);
  return [value, setValue, clear];
}

/** Previous/next paging under a table: "11–20 of 57", or `empty` when there is nothing. */
export function Pager({
  offset,
  pageSize,
  total,
  empty,
  onOffset,
  labels = ['← Previous', 'Next →'],
  moreDisabled = false,
}: {
  offset: number;
  pageSize: number;
  total: number;
  empty: string;
  onOffset: (offset: number) => void;
  labels?: [string, string];
  /** Also disable "next" (e.g. a client-side filter left the page short). */
  moreDisabled?: boolean;
}) {
  const last = Math.min(offset + pageSize, total);
  return (
    <div className="pager">
      <button type="button" className="secondary" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - pageSize))}>
        {labels[0]}
      </button>
      <span className="muted small">{total === 0 ? empty : `${offset + 1}–${last} of ${total}`}</span>
      <button type="button" className="secondary" disabled={last >= total || moreDisabled} onClick={() => onOffset(offset + pageSize)}>
        {labels[1]}
      </button>
    </div>
  );
}
