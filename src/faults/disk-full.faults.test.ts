/**
 * Scenario "disk-full": the gateway's spool (its `--data-dir`/spool: segments, pending batches, state, the result
 * outbox) lives on a small tmpfs the test mounts itself. While 5 patients publish at 10×:
 *
 * 1. data full: a filler file is written until ENOSPC and the disk held full until the gateway logged that intake
 *    paused and the broker queued a few hundred more acknowledged beats for it; then the filler is deleted and the
 *    gateway must resume by itself (its "intake resumed" line);
 * 2. full at the cut: every free inode is taken by empty files, so the current segment still grows but the next
 *    batch cut cannot create its new segment and pending files (nor the outbox its result files) — held until three
 *    cuts failed, then freed; results must flow again.
 *
 * Was a finding: a result the outbox could not write (ENOSPC) was counted as rejected and its host copy deleted —
 * 9 of 608 acknowledged beats lost (3 results), and the next results of those patients differed from a clean run.
 * The gateway now leaves the host's copy and fetches it again on the next poll.
 *
 * The broker (the suite's aedes) holds what the gateway did not acknowledge. Invariants I1, I2, I3; the gateway's
 * counters (`spool_write_failures`, `intake_pauses`, printed by `hrvault gateway` when it stops) are printed too.
 * Where the machine refuses `mount -t tmpfs` (not root, no CAP_SYS_ADMIN) the scenario is skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../gateway/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { printInvariants } from './report.js';
import { faultSeed } from './seed.js';
import { createStack, drainAndCheck, resultsKept, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 5;
/** Enough for a minute of the scenario's spool and kept results with room to spare; small enough to fill in a blink. */
const TMPFS = 'size=24m,nr_inodes=20000';

/** Mounts a tmpfs at `dir`; returns why not when the machine refuses. */
function mountTmpfs(dir: string): string | undefined {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', TMPFS, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error) return r.error.message;
  return r.status === 0 ? undefined : `mount -t tmpfs exited ${r.status}: ${r.stderr.trim()}`;
}

function umount(dir: string): void {
  // Lazy: a process that still holds a file there (a gateway being killed) must not keep the mount for ever.
  spawnSync('umount', ['-l', dir]);
}

/** Probed once: the scenario needs a mount of its own. */
const mountRefused = ((): string | undefined => {
  const probe = mkdtempSync(join(tmpdir(), 'hrv-faults-tmpfs-probe-'));
  const why = mountTmpfs(probe);
  if (why === undefined) umount(probe);
  rmSync(probe, { recursive: true, force: true });
  return why;
})();
if (mountRefused !== undefined) console.log(`faults: disk-full skipped: this machine refuses a tmpfs mount (${mountRefused})`);

/** Writes zeros into `file` until the filesystem refuses (ENOSPC); returns the bytes written. */
function fillBytes(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return n;
}

/** Creates empty files in `dir` until no inode is left (ENOSPC); returns how many. */
function fillInodes(dir: string): number {
  mkdirSync(dir);
  let n = 0;
  try {
    for (;;) closeSync(openSync(join(dir, String(n++)), 'w'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  return n - 1;
}

const count = (p: CliProcess, line: string): number => p.stderr().split(line).length - 1;

let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
let mounted: string | undefined;
afterAll(async () => {
  await stack?.killAll();
  if (mounted !== undefined) umount(mounted);
  await stack?.close(process.env.HRVAULT_FAULTS_KEEP === '1');
  await broker?.close();
});

describe.skipIf(mountRefused !== undefined)('faults: the gateway spool disk fills up', () => {
  it('intake pauses without acknowledging, resumes by itself, every acknowledged beat analysed once', async () => {
    const seed = faultSeed();
    const prefix = `hrvault/v1/disk${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'disk-full', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
    const spoolDir = join(stack.gatewayDir, 'spool');
    mkdirSync(spoolDir);
    const why = mountTmpfs(spoolDir);
    if (why !== undefined) throw new Error(`tmpfs mount failed after the probe succeeded: ${why}`);
    mounted = spoolDir;
    const cloud = await stack.startCloud();
    const gw = await stack.startGateway();
    const fleet = await stack.startSensors(null, 10);
    // Progress is the gateway's own (the sensors publish whatever it does): results kept, and the lines waited for.
    // Not "intake paused": a paused spool logs it again at every failed retry.
    const kept = (): number => resultsKept(gw);
    const facts: Record<string, unknown> = { seed, tmpfs: TMPFS };
    try {
      await untilSettled(() => resultsKept(gw) >= 2 * PATIENTS, kept);

      // 1. The data blocks run out.
      const filler = join(spoolDir, 'filler');
      facts.filler_bytes = fillBytes(filler);
      const paused = await untilSettled(() => count(gw, 'intake paused') >= 1, kept);
      const publishedAtPause = fleet.stats().published;
      const keptAtPause = resultsKept(gw);
      // Held full while the broker acknowledges a few hundred more beats that the gateway cannot take.
      await untilSettled(() => fleet.stats().published >= publishedAtPause + 300, () => fleet.stats().published);
      facts.published_while_full = fleet.stats().published - publishedAtPause;
      facts.results_kept_while_full = resultsKept(gw) - keptAtPause;
      unlinkSync(filler);
      const resumed = await untilSettled(() => count(gw, 'intake resumed') >= 1, () => kept() + count(gw, 'intake resumed'));
      const keptAtResume = resultsKept(gw);
      await untilSettled(() => resultsKept(gw) >= keptAtResume + 2 * PATIENTS, kept);
      facts.paused_logged = paused;
      facts.resumed_logged = resumed;

      // 2. The inodes run out: the current segment still takes beats, the next cut cannot create its files.
      const cutFailedBefore = count(gw, 'batch cut failed');
      const inodes = join(spoolDir, 'inode-filler');
      facts.inode_fillers = fillInodes(inodes);
      const cutFailed = await untilSettled(() => count(gw, 'batch cut failed') >= cutFailedBefore + 3, () => kept() + count(gw, 'batch cut failed'));
      facts.cuts_failed_while_full = count(gw, 'batch cut failed') - cutFailedBefore;
      rmSync(inodes, { recursive: true, force: true });
      const keptAtFree = resultsKept(gw);
      await untilSettled(() => resultsKept(gw) >= keptAtFree + 2 * PATIENTS, kept);
      facts.cut_failure_logged = cutFailed;
      expect(paused, 'the gateway logged that intake paused').toBe(true);
      expect(resumed, 'the gateway logged that intake resumed').toBe(true);
      expect(cutFailed, 'batch cuts failed while no inode was free').toBe(true);
    } finally {
      await fleet.stop();
    }
    const r = await drainAndCheck(stack, fleet, gw, cloud);
    // Writes that failed for want of space must not leave their temp files behind (they hold space a full disk needs).
    const leftovers = readdirSync(spoolDir, { recursive: true, encoding: 'utf8' }).filter((n) => /\.tmp-\d+$/.test(n));
    facts.leftover_temp_files = leftovers.length;
    const last = stack.runs.filter((x) => x.name === 'gateway').map((x) => x.proc);
    const counters = last.map((p) => /\{"received".*\}/.exec(p.stdout())?.[0]).filter((s) => s !== undefined).map((s) => JSON.parse(s) as Record<string, unknown>);
    facts.gateway_counters = counters.map((c) => ({ spool_write_failures: c.spool_write_failures, intake_pauses: c.intake_pauses, results_rejected: c.results_rejected, accepted: c.accepted }));
    facts.results_rejected_logged = count(gw, 'result rejected');
    // Fetch rounds that met a full outbox and left the host's copy for the next poll (was: rejected and deleted).
    facts.result_fetches_deferred = count(gw, 'result outbox: could not write');
    printInvariants('disk-full', r, { ...facts, published: r.published, host_rejections: stack.hostRejections(), gateway_sigterm: r.gatewaySigterm });
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
    expect(leftovers, 'temp files of failed writes left in the spool').toEqual([]);
    expect(Number(counters[0]?.intake_pauses ?? 0), 'the gateway counted the pause').toBeGreaterThanOrEqual(1);
  });
});
