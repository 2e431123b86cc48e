/** Drafts of forms in sessionStorage (per tab, gone when the tab closes): what the user typed survives an expired session or a reload. */

/** The part of Storage drafts use. */
export interface DraftStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const PREFIX = 'hrvault.draft.';

/** Storage key of a form's draft for one scope (e.g. the patient). */
export const draftKey = (form: string, scope: string) => `${PREFIX}${form}.${scope}`;

/** The stored draft, or `initial` when there is none or it does not parse. */
export function readDraft<T>(store: DraftStore | null, key: string, initial: T): T {
  if (!store) return initial;
  try {
    const s = store.getItem(key);
    if (s === null) return initial;
    const v = JSON.parse(s) as unknown;
    // Only a value of the same kind as the initial one is taken back.
    if (typeof v !== typeof initial || Array.isArray(v) !== Array.isArray(initial)) return initial;
    return v as T;
  } catch {
    return initial;
  }
}

/** Stores the draft; an empty draft (equal to `initial`) is removed. */
export function writeDraft<T>(store: DraftStore | null, key: string, value: T, initial: T): void {
  if (!store) return;
  try {
    const s = JSON.stringify(value);
    if (s === JSON.stringify(initial)) store.removeItem(key);
    else store.setItem(key, s);
  } catch {
    // Storage full or disabled: the draft is simply not kept.
  }
}

/** Names that must never be stored as drafts. */
export function isSecretField(name: string): boolean {
  return /password|token|secret/i.test(name);
}
