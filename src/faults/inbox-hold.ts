/**
 * Late and reordered files for the fault suite: batch files are taken out of the host's inbox the moment they
 * appear (fs.watch, a synchronous rename, before the next micro-batch lists them) and put back later, as a host
 * whose storage delivered them late would see them.
 */
import { mkdirSync, renameSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

/** `<pseudonym>-<seq>.hrve`, the gateway's batch file name (seq zero-padded). */
const BATCH_NAME = /^([A-Za-z0-9_-]+)-(\d+)\.hrve$/;

export interface HeldFile {
  name: string;
  pseudonym: string;
  seq: number;
}

export interface InboxHold {
  /** Files taken out so far. */
  held: HeldFile[];
  /** Puts a held file back into the inbox (an atomic rename: the host sees it whole). */
  release(f: HeldFile): void;
  close(): void;
}

/**
 * Watches `inbox` and takes out every batch file for which `pick(pseudonym, seq)` says so into `aside` (same file
 * system). A file the host already took (the rename fails) is not held.
 */
export function holdInbox(inbox: string, aside: string, pick: (pseudonym: string, seq: number) => boolean): InboxHold {
  mkdirSync(aside, { recursive: true });
  mkdirSync(inbox, { recursive: true });
  const held: HeldFile[] = [];
  const watcher: FSWatcher = watch(inbox, (_event, name) => {
    const m = name === null ? null : BATCH_NAME.exec(name);
    if (!m || held.some((h) => h.name === name)) return;
    const f = { name: m[0], pseudonym: m[1]!, seq: Number(m[2]) };
    if (!pick(f.pseudonym, f.seq)) return;
    try {
      renameSync(join(inbox, f.name), join(aside, f.name));
      held.push(f);
    } catch {
      // Gone already (analysed and filed away by the host, or a rename event of it leaving): not held.
    }
  });
  return {
    held,
    release: (f) => renameSync(join(aside, f.name), join(inbox, f.name)),
    close: () => watcher.close(),
  };
}
