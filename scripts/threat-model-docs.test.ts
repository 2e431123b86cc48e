/**
 * The threat models in docs/protocol.md and docs/pipeline-security.md back each line with a test name. This keeps
 * them honest: every cited file exists and holds every cited name (a "…" stands for the rest of a long name, and
 * `<…>` for a template's variable part), so renaming or deleting a test fails here until the docs follow.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

/** The body of the section under `heading` (up to the next `## `). */
function section(doc: string, heading: string): string {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  const start = text.indexOf(`\n${heading}`);
  if (start < 0) throw new Error(`${doc} has no section "${heading}"`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

interface Citation {
  row: string;
  file: string;
  name: string;
}

/** Table rows of a section: [row text, its citations]. */
function citations(body: string): { rows: string[]; cited: Citation[] } {
  const rows = body.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---') && !/^\| (the |an? )[^|]*… \| \| test \|$/.test(l));
  const cited: Citation[] = [];
  for (const row of rows) {
    for (const m of row.matchAll(/`((?:src|scripts)\/[^`]+)`(?: \([^)]*\))? › (.*?)(?=; `|\s*\|\s*$)/g)) {
      for (const q of m[2]!.matchAll(/"([^"]+)"/g)) cited.push({ row, file: m[1]!, name: q[1]! });
    }
  }
  return { rows, cited };
}

/** Whether `source` (a test file, quotes unescaped) holds `name`'s fragments in order. */
function holds(source: string, name: string): boolean {
  const fragments = name
    .split(/…|<[^>]*>/)
    .map((f) => f.trim())
    .filter((f) => f.length > 0);
  let at = 0;
  for (const f of fragments) {
    const i = source.indexOf(f, at);
    if (i < 0) return false;
    at = i + f.length;
  }
  return fragments.length > 0;
}

describe.each([
  ['docs/pipeline-security.md', '## Threat model: what the host and a device can and cannot do'],
  ['docs/protocol.md', '## Threat model'],
])('%s threat model', (doc, heading) => {
  const { rows, cited } = citations(section(doc, heading));

  it('every row names a test, or says "—" and why', () => {
    expect(rows.length).toBeGreaterThan(10);
    const bare = rows.filter((r) => !r.includes(' › ') && !/\| — [^|]*\|$/.test(r.trim()));
    expect(bare).toEqual([]);
  });

  it('every cited test exists under that name', () => {
    const missing = cited.filter((c) => {
      const path = join(ROOT, c.file);
      if (!existsSync(path)) return true;
      return !holds(readFileSync(path, 'utf8').replace(/\\(['"`])/g, '$1'), c.name);
    });
    expect(missing.map((c) => `${c.file} › "${c.name}"`)).toEqual([]);
    expect(cited.length).toBeGreaterThan(20);
  });
});
