import { describe, expect, it } from 'vitest';
import { draftKey, isSecretField, readDraft, writeDraft, type DraftStore } from './drafts.js';

const store = (): DraftStore & { m: Map<string, string> } => {
  const m = new Map<string, string>();
  return { m, getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
};

describe('drafts', () => {
  it('round-trips a draft and removes an empty one', () => {
    const s = store();
    const k = draftKey('note', 'P-001');
    writeDraft(s, k, 'half a sentence', '');
    expect(readDraft(s, k, '')).toBe('half a sentence');
    writeDraft(s, k, '', '');
    expect(s.m.size).toBe(0);
  });
  it('ignores a draft of another shape or that does not parse', () => {
    const s = store();
    s.setItem('x', '{"a":1}');
    expect(readDraft(s, 'x', '')).toBe('');
    s.setItem('y', '{broken');
    expect(readDraft(s, 'y', { a: 0 })).toEqual({ a: 0 });
    expect(readDraft(null, 'y', 3)).toBe(3);
  });
  it('knows secret field names', () => {
    expect(isSecretField('password')).toBe(true);
    expect(isSecretField('note')).toBe(false);
  });
});
