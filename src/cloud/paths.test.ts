import { describe, expect, it } from 'vitest';
import { isTempName, resolveVirtualPath, SftpPathError } from './paths.js';

describe('resolveVirtualPath', () => {
  it('maps the virtual tree', () => {
    expect(resolveVirtualPath('.')).toEqual({ kind: 'root' });
    expect(resolveVirtualPath('/')).toEqual({ kind: 'root' });
    expect(resolveVirtualPath('inbox')).toEqual({ kind: 'dir', area: 'inbox' });
    expect(resolveVirtualPath('./outbox/')).toEqual({ kind: 'dir', area: 'outbox' });
    expect(resolveVirtualPath('/inbox/p1-3.rrb')).toEqual({ kind: 'file', area: 'inbox', name: 'p1-3.rrb' });
  });

  it.each([
    ['..', /'\.\.'/],
    ['inbox/../outbox/x', /'\.\.'/],
    ['/etc/passwd', /outside/],
    ['gateways/gw-2/inbox/x', /outside/],
    ['inbox/a/b', /nested/],
    ['inbox/.x', /not allowed/],
    ['inbox/a b', /not allowed/],
    ['inbox/a\\..\\b', /backslash/],
    ['inbox/a\u0000', /control/],
    ['inbox/./x', /'\.'/],
    [`inbox/${'a'.repeat(129)}`, /not allowed/],
  ])('refuses %s', (p, msg) => {
    expect(() => resolveVirtualPath(p)).toThrow(SftpPathError);
    expect(() => resolveVirtualPath(p)).toThrow(msg);
  });

  it('recognises temp names', () => {
    expect(isTempName('p1-3.rrb.part')).toBe(true);
    expect(isTempName('p1-3.rrb.tmp')).toBe(true);
    expect(isTempName('p1-3.rrb')).toBe(false);
  });
});
