/**
 * An attacker on the host flips a bit in, truncates, replays and reorders uploaded batch files: each is
 * rejected and quarantined with its reason, and everything accepted before (and after) stays intact.
 */
import { rmSync } from 'node:fs';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { describe, expect, it } from 'vitest';
import { runDemo, type DemoContext } from '../commands/index.js';
import { formatRrCsv } from '../hrv/index.js';
import { keyIdOf, pseudonymise, readEnvelopeHeader, sealEnvelope } from '../crypto/index.js';
import { ensureGatewayKeys } from '../gateway/index.js';

const silent = { out: () => undefined, err: () => undefined };

describe('tampered uploads', () => {
  it('bit flip and truncation are refused and quarantined, a replay is answered by its receipt (never analysed twice), a reordered genuine file is analysed in order', async () => {
    let injectedBeats = 0;
    let stats: { cloud: ReturnType<DemoContext['cloud']['stats']>; gateway: ReturnType<DemoContext['gateway']['stats']> } | undefined;
    const tamper = async (ctx: DemoContext): Promise<void> => {
      const keys = ensureGatewayKeys(join(ctx.dataDir, 'gateway', 'keys'));
      const enclavePk = ctx.enclave!.publicKey;
      const pseud = pseudonymise('P0001', keys.pseudonymKey);
      const storeDir = join(ctx.dataDir, 'cloud', 'store', 'gw1');
      const mine = readdirSync(storeDir)
        .filter((n) => n.startsWith(`${pseud}-`))
        .sort();
      const lastName = mine.at(-1)!;
      const last = readFileSync(join(storeDir, lastName));
      const lastHeader = readEnvelopeHeader(last);
      // Fresh, correctly sealed and signed batches continuing this patient's stream (what the attacker can
      // only replay or damage, never forge: it lacks the gateway's signing key; the test plays the gateway).
      const batch = (seq: number, startMs: number): Uint8Array => {
        const t = [startMs + 800, startMs + 1600, startMs + 2400];
        const csv = formatRrCsv({ tMs: Float64Array.from(t), rrMs: Float64Array.from([800, 800, 800]) });
        return sealEnvelope(
          enclavePk,
          {
            v: 1,
            kind: 'rr-batch',
            gateway: 'gw1',
            patient: pseud,
            seq,
            t_start_ms: startMs,
            t_end_ms: t[2]!,
            key_id: keyIdOf(enclavePk),
          },
          Buffer.from(csv),
          keys.signingPrivateKey,
        );
      };
      const n = lastHeader.seq;
      const t0 = lastHeader.t_end_ms;
      const flipped = Buffer.from(batch(n + 1, t0));
      flipped[Math.floor(flipped.length / 2)]! ^= 0x10;
      const truncated = batch(n + 1, t0).subarray(0, 200);
      const later = batch(n + 3, t0 + 10_000);
      const earlier = batch(n + 2, t0);
      const c = new SftpClient('attacker', {
        error: () => undefined,
        end: () => undefined,
        close: () => undefined,
      });
      await c.connect({
        host: '127.0.0.1',
        port: ctx.cloud.port,
        username: 'gw1',
        privateKey: keys.sshPrivateKey,
      });
      const put = async (name: string, bytes: Uint8Array): Promise<void> => {
        await c.put(Buffer.from(bytes), `inbox/${name}.part`);
        await c.rename(`inbox/${name}.part`, `inbox/${name}`);
      };
      await put(`flip-${n + 1}.hrve`, flipped);
      await put(`trunc-${n + 1}.hrve`, truncated);
      await put(lastName, last); // replay of an accepted file
      await ctx.cloud.flush();
      await put(`later-${n + 3}.hrve`, later);
      await ctx.cloud.flush();
      await put(`earlier-${n + 2}.hrve`, earlier); // reordered: arrives after n+3, while n+3 waits for its predecessors
      await ctx.cloud.flush();
      await c.end();
      injectedBeats = 6;
      // n+3 and n+2 wait a few micro-batches for n+1 (which the attacker only damaged), then go ahead, in order.
      await ctx.cloud.flush({ releaseHeld: true });
      await ctx.gateway.waitForResults(ctx.cloud.stats().results_written, 10_000);
      stats = { cloud: ctx.cloud.stats(), gateway: ctx.gateway.stats() };
    };
    const s = await runDemo(
      {
        patients: 5,
        durationS: 30,
        batchIntervalS: 0.5,
        mode: 'secure',
        speed: 20,
        logLevel: 'warn',
        beforeSummary: tamper,
      },
      silent,
    );
    console.log(`tamper: ${JSON.stringify({ files: s.files, rejected: s.rejected_reasons, analysed: s.beats_analysed, published: s.beats_published, verified: s.results_verified, cloud_duplicates: stats?.cloud.duplicates, replayed: stats?.gateway.results_replayed })}`);
    // Damage is refused and quarantined; nothing else is.
    expect(s.rejected_files).toBe(2);
    expect(Object.keys(s.rejected_reasons).every((k) => k.startsWith('HRV_ERR_ENVELOPE_'))).toBe(true);
    // The replay of an accepted file is recognised by its receipt: no second analysis, no second result.
    expect(stats!.cloud.duplicates).toBe(1);
    // Everything the sensors sent was analysed once, plus the two genuine out-of-turn batches; all results verify.
    expect(s.beats_analysed).toBe(s.beats_published + injectedBeats);
    expect(s.results_rejected).toBe(0);
    expect(s.results_verified).toBe(s.files - 2 - 1);
    const q = readdirSync(join(s.data_dir, 'cloud', 'quarantine', 'gw1'));
    expect(q.filter((n) => n.endsWith('.reason.json'))).toHaveLength(2);
    expect(q.filter((n) => !n.endsWith('.reason.json'))).toHaveLength(2);
    rmSync(s.data_dir, { recursive: true, force: true });
  });
});
