/**
 * Live updates: server-sent events of new records of one patient the caller may see. The decision is not
 * made once at connect: before every event and every `recheckMs` the bearer token is verified again and
 * the policy asked again, so an expired token, a disabled user or a revoked assignment ends the stream
 * within seconds.
 */
import { decideRead, principalName, type ClinicalRecord } from '../../csp/index.js';
import { sendProblem } from '../problem.js';
import { personParams } from '../schemas.js';
import type { RoutePlugin } from './context.js';

export const liveRoutes: RoutePlugin<{ recheckMs: number }> = async (app, { csp, guard, recheckMs }) => {
  app.get('/api/v1/patients/:id/live', { onRequest: guard.auth, schema: { tags: ['records'], params: personParams } }, async (request, reply) => {
    const { id } = request.params;
    const p = guard.who(request);
    // The guard accepted this request's token, so it is present and well-formed.
    const token = guard.bearerToken(request) ?? '';
    if (decideRead(p)(id) !== 'allow') {
      await csp.audit.append({ actor: principalName(p), action: 'record.live', target: id, outcome: 'denied' });
      return sendProblem(reply, request, 404, 'HRV_ERR_NOT_FOUND', 'no such patient');
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    raw.write(': connected\n\n');
    let open = true;
    const stillAllowed = async (): Promise<string | undefined> => {
      try {
        const now = await csp.authenticate(token);
        return decideRead(now)(id) === 'allow' ? undefined : 'access to this patient was withdrawn';
      } catch (err) {
        return err instanceof Error ? err.message : 'not authenticated';
      }
    };
    const end = (reason: string): void => {
      if (!open) return;
      open = false;
      cleanup();
      raw.write(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
      raw.end();
      void csp.audit.append({ actor: principalName(p), action: 'record.live.ended', target: id, outcome: 'denied', detail: { reason } }).catch(() => undefined);
    };
    // Events are written in order, each after its own check.
    let queue: Promise<void> = Promise.resolve();
    const onRecord = (rec: ClinicalRecord): void => {
      if (rec.patient_id !== id) return;
      queue = queue.then(async () => {
        if (!open) return;
        const denied = await stillAllowed();
        if (denied !== undefined) return end(denied);
        raw.write(`event: record\nid: ${rec.id}\ndata: ${JSON.stringify(rec)}\n\n`);
      });
    };
    const recheck = setInterval(() => {
      queue = queue.then(async () => {
        if (!open) return;
        const denied = await stillAllowed();
        if (denied !== undefined) end(denied);
      });
    }, recheckMs);
    const ping = setInterval(() => raw.write(': ping\n\n'), 15_000);
    const cleanup = (): void => {
      clearInterval(ping);
      clearInterval(recheck);
      csp.events.off('record', onRecord);
    };
    csp.events.on('record', onRecord);
    request.raw.on('close', () => {
      open = false;
      cleanup();
    });
    await csp.audit.append({ actor: principalName(p), action: 'record.live', target: id, outcome: 'ok' });
  });
};
