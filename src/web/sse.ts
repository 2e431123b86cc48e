/**
 * Server-sent events over fetch(): EventSource cannot send an Authorization header, so the dashboard reads
 * the stream itself. The parser follows the WHATWG event-stream format (fields, comments, multi-line data,
 * CR/LF/CRLF line ends, events split anywhere across chunks).
 */

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Incremental event-stream parser: push text chunks, get complete events back. */
export class SseParser {
  #buf = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;
  #pendingCr = false;

  /** Feeds a chunk; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    let text = chunk;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.#pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.#pendingCr = false;
    this.#buf += text;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buf);
      if (!m) break;
      if (m[0] === '\r' && m.index === this.#buf.length - 1) this.#pendingCr = true;
      const line = this.#buf.slice(0, m.index);
      this.#buf = this.#buf.slice(m.index + m[0].length);
      const ev = this.#line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  #line(line: string): SseEvent | null {
    if (line === '') {
      if (this.#data.length === 0) {
        this.#event = '';
        return null;
      }
      const ev: SseEvent = {
        event: this.#event || 'message',
        data: this.#data.join('\n'),
        ...(this.#id !== undefined ? { id: this.#id } : {}),
      };
      this.#event = '';
      this.#data = [];
      return ev;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    return null;
  }
}

/** Reads an event stream body to its end (or until `signal` aborts), calling `onEvent` for each event. */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onEvent: (e: SseEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const stop = () => {
    reader.cancel().catch(() => undefined);
  };
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for (;;) {
      if (signal?.aborted) return;
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of parser.push(decoder.decode(value, { stream: true }))) onEvent(ev);
    }
    // An event without its closing blank line at the end of the stream is incomplete: the format drops it.
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
