import { describe, expect, it } from 'vitest';
import { SseParser, readSse } from './sse.js';

describe('SSE parsing', () => {
  it('the API’s record events, comments and pings', () => {
    const p = new SseParser();
    const evs = p.push(': connected\n\nevent: record\nid: r1\ndata: {"id":"r1"}\n\n: ping\n\n');
    expect(evs).toEqual([{ event: 'record', id: 'r1', data: '{"id":"r1"}' }]);
  });

  it('an event split at every position across chunks parses the same', () => {
    const text = 'event: record\r\nid: 7\r\ndata: line one\r\ndata:line two\r\n\r\ndata: x\r\r';
    for (let i = 0; i <= text.length; i++) {
      const p = new SseParser();
      const evs = [...p.push(text.slice(0, i)), ...p.push(text.slice(i))];
      expect(evs, `split at ${i}`).toEqual([
        { event: 'record', id: '7', data: 'line one\nline two' },
        { event: 'message', id: '7', data: 'x' },
      ]);
    }
  });

  it('a field without data dispatches nothing; an unterminated event at the end is dropped', async () => {
    const p = new SseParser();
    expect(p.push('event: record\n\n')).toEqual([]);
    const chunks = ['data: a\n\n', 'data: {"partial"'];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
        c.close();
      },
    });
    const got: string[] = [];
    await readSse(body, (e) => got.push(e.data));
    expect(got).toEqual(['a']);
  });

  it('multi-byte characters split between chunks survive', async () => {
    const bytes = new TextEncoder().encode('data: SpO₂ 97 %\n\n');
    const cut = bytes.indexOf(0xe2) + 1;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, cut));
        c.enqueue(bytes.slice(cut));
        c.close();
      },
    });
    const got: string[] = [];
    await readSse(body, (e) => got.push(e.data));
    expect(got).toEqual(['SpO₂ 97 %']);
  });
});
