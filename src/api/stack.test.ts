import { afterAll, describe, expect, it } from 'vitest';
import { createDemoUsers } from '../csp/index.js';
import { startAccessStack, type AccessStack } from './stack.js';

let stack: AccessStack | undefined;
afterAll(async () => {
  await stack?.close();
});

describe('the access stack with demo users', () => {
  it('each demo login works over HTTP and sees exactly its share of patients', async () => {
    stack = await startAccessStack({ port: 0, paillierBits: 1024 });
    const creds = await createDemoUsers(stack.csp, ['P-1', 'P-2', 'P-3', 'P-4']);
    expect(creds.filter((c) => c.role === 'doctor')).toHaveLength(2);
    expect(creds.filter((c) => c.role === 'health_worker')).toHaveLength(4);
    expect(creds.filter((c) => c.role === 'patient').map((c) => c.patient_id)).toEqual(['P-1', 'P-2', 'P-3', 'P-4']);
    const visible: Record<string, string[]> = {};
    for (const c of creds) {
      const login = await fetch(`${stack.address}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: c.username, password: c.password }),
      });
      expect(login.status, c.username).toBe(200);
      const { access_token } = (await login.json()) as { access_token: string };
      const res = await fetch(`${stack.address}/api/v1/patients`, { headers: { authorization: `Bearer ${access_token}` } });
      visible[c.username] = ((await res.json()) as { patients: Array<{ patient_id: string }> }).patients.map((p) => p.patient_id);
    }
    expect(visible.doctor1).toEqual(['P-1', 'P-3']);
    expect(visible.doctor2).toEqual(['P-2', 'P-4']);
    expect(visible.worker1).toEqual(['P-1']);
    expect(visible['patient-p-2']).toEqual(['P-2']);
    expect(visible.admin).toEqual(['P-1', 'P-2', 'P-3', 'P-4']);
  });
});
