/** `hrvault bench clients|load` option validation, JetStream mode's (issue 11) in particular: bad combinations fail fast. */
import { describe, expect, it } from 'vitest';
import { HrvaultError } from '../../errors.js';
import { validateBenchOptions } from './options.js';
import { assemble, QUICK, QUICK_JETSTREAM } from './presets.js';

const URL = 'nats://127.0.0.1:4222';
const check = (given: Parameters<typeof assemble>[1]) => validateBenchOptions(assemble('clients', given));
const refused = (given: Parameters<typeof assemble>[1]): string => {
  try {
    check(given);
  } catch (err) {
    expect(err).toBeInstanceOf(HrvaultError);
    expect((err as HrvaultError).code).toBe('HRV_ERR_USAGE');
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('bench options with --jetstream', () => {
  it('defaults to secure mode and one worker, and keeps the given worker counts (0 = embedded)', () => {
    expect(check({ quick: false, jetstream: URL })).toMatchObject({ modes: ['secure'], workers: [1], jetstream: URL });
    expect(check({ quick: false, jetstream: URL, workers: [0, 1, 2], workerCpus: '0-1' })).toMatchObject({ workers: [0, 1, 2], workerCpus: '0-1' });
  });

  it('--quick with --jetstream is one small point per worker count; without it the quick sweep is unchanged', () => {
    expect(check({ quick: true, jetstream: URL })).toMatchObject({ clients: [...QUICK_JETSTREAM.clients], durationS: QUICK_JETSTREAM.durationS });
    expect(check({ quick: true })).toMatchObject({ clients: [...QUICK.clients.clients], modes: ['secure', 'plain'] });
  });

  it('refuses plain or both modes, --target, --cpu-prof and repeated worker counts with --jetstream', () => {
    expect(refused({ quick: false, jetstream: URL, modes: ['secure', 'plain'] })).toMatch(/secure mode only/);
    expect(refused({ quick: false, jetstream: URL, modes: ['plain'] })).toMatch(/secure mode only/);
    expect(refused({ quick: false, jetstream: URL, modes: ['secure'], target: { host: 'h', port: 2222 }, targetKeys: 'f' })).toMatch(/--target/);
    expect(refused({ quick: false, jetstream: URL, cpuProf: '/tmp/p' })).toMatch(/--cpu-prof/);
    expect(refused({ quick: false, jetstream: URL, workers: [1, 1] })).toMatch(/once/);
  });

  it('refuses --workers and --worker-cpus without --jetstream, bad counts, bad URLs and bad CPU lists', () => {
    expect(refused({ quick: false, workers: [1] })).toMatch(/--workers needs --jetstream/);
    expect(refused({ quick: false, workerCpus: '1' })).toMatch(/--worker-cpus needs --jetstream/);
    expect(refused({ quick: false, jetstream: URL, workers: [9] })).toMatch(/workers.*at most 8/);
    expect(refused({ quick: false, jetstream: URL, workers: [1.5] })).toMatch(/whole numbers/);
    expect(refused({ quick: false, jetstream: URL, workers: [] })).toMatch(/at least one/);
    expect(refused({ quick: false, jetstream: 'http://127.0.0.1:4222' })).toMatch(/jetstream.*nats:\/\//);
    expect(refused({ quick: false, jetstream: `${URL},nats://127.0.0.1:4223` })).toMatch(/one nats:\/\//);
    expect(refused({ quick: false, jetstream: URL, workerCpus: 'all' })).toMatch(/workerCpus.*CPU list/);
  });
});
