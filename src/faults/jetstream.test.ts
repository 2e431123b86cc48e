import { describe, expect, it } from 'vitest';
import type { CliProcess } from '../test-support/processes.js';
import {
  gatewayResultRepeats,
  heldPartitions,
  highestTokens,
  leaseLost,
  partitionEvents,
  takenOver,
} from './jetstream.js';

const line = (o: Record<string, unknown>): string => JSON.stringify({ level: 30, time: 1, ...o });
/** A stand-in with only the log text the helpers read. */
const proc = (stderr: string): CliProcess => ({ stderr: () => stderr }) as unknown as CliProcess;

describe('faults/jetstream: worker partition events from the log', () => {
  const w0 = [
    line({ msg: 'worker running', worker: 'w0' }),
    line({ msg: 'partition taken', worker: 'w0', partition: 0, token: 4 }),
    line({ msg: 'partition taken', worker: 'w0', partition: 3, token: '9007199254740993' }),
    'enclave child says something that is not JSON',
    line({ msg: 'partition taken', worker: 'w0', partition: 5, token: 7 }),
    line({ msg: 'partition given up for balance', worker: 'w0', partition: 5 }),
    '{"level":30,"msg":"partition tak', // cut by a SIGKILL
  ].join('\n');

  it('reads taken partitions with their tokens (numbers and big decimal strings), and what is held now', () => {
    expect(
      partitionEvents(w0)
        .filter((e) => e.kind === 'taken')
        .map((e) => e.kind === 'taken' && e.token),
    ).toEqual([4n, 9007199254740993n, 7n]);
    expect(heldPartitions(w0)).toEqual([0, 3]);
  });

  it('sees a takeover only with a higher token, and a lost lease only when the error names the lease', () => {
    const before = new Map([
      [0, 4n],
      [3, 9007199254740993n],
    ]);
    const w1 = proc(
      [
        line({ msg: 'partition taken', partition: 0, token: 4 }),
        line({ msg: 'partition taken', partition: 3, token: '9007199254740994' }),
      ].join('\n'),
    );
    expect(takenOver(before, [w1])).toEqual([3]);
    expect(highestTokens([proc(w0), w1]).get(3)).toBe(9007199254740994n);
    const late = [
      w0,
      line({
        level: 40,
        msg: 'partition lost',
        partition: 0,
        error: 'HrvaultError: HRV_ERR_LEASE_LOST: revision moved on',
      }),
      line({ level: 50, msg: 'partition failed', partition: 3, error: 'ENOSPC' }),
    ].join('\n');
    expect(leaseLost(late, [0, 3])).toEqual([0]);
    expect(heldPartitions(late)).toEqual([]);
  });

  it('counts what the gateway said about results it was handed twice', () => {
    const gw = proc(
      [
        line({ level: 40, msg: 'result replayed (already kept); not passed on' }),
        line({ level: 50, msg: 'enclave state rollback detected: result refused' }),
        line({ level: 40, msg: 'result rejected' }),
        line({ msg: 'result kept for the CSP' }),
      ].join('\n'),
    );
    expect(gatewayResultRepeats([gw])).toEqual({ replayed: 1, refusedAsRollback: 1, rejected: 1 });
  });
});
