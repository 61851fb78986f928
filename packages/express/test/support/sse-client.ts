import { request as httpRequest, type IncomingMessage } from 'node:http';

/** One parsed Server-Sent Events frame, or a comment line. */
export interface SseFrame {
  /** `event:` (default `message`), or `comment` for a `:` line. */
  readonly event: string;
  /** `id:` of this frame, when it had one. */
  readonly id?: string;
  /** `data:` lines joined with `\n`, parsed as JSON when it is JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: test convenience for reading event data
  readonly data: any;
}

/**
 * Parses an event stream as it arrives (the parsing rules of the WHATWG
 * EventSource: `field: value` lines, a blank line dispatches, `:` comments).
 */
export class SseParser {
  readonly frames: SseFrame[] = [];
  #buffer = '';
  #fields: { event?: string; id?: string; data: string[] } = { data: [] };
  readonly #waiters: Array<() => void> = [];
  #ended = false;

  push(chunk: string): void {
    this.#buffer += chunk;
    let newline = this.#buffer.search(/\r\n|\n|\r/);
    while (newline !== -1) {
      const line = this.#buffer.slice(0, newline);
      const width = this.#buffer.startsWith('\r\n', newline) ? 2 : 1;
      this.#buffer = this.#buffer.slice(newline + width);
      this.#line(line);
      newline = this.#buffer.search(/\r\n|\n|\r/);
    }
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Resolves with the first frame (from index `from`) matching `match`, seen or to come. */
  async waitFor(match: (frame: SseFrame) => boolean, from = 0): Promise<SseFrame> {
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found !== undefined) return found;
      if (this.#ended) throw new Error('the stream ended before the awaited event');
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Resolves once the stream has ended. */
  async waitForEnd(): Promise<void> {
    while (!this.#ended) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Events other than comments. */
  get events(): SseFrame[] {
    return this.frames.filter((frame) => frame.event !== 'comment');
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#fields.data.length > 0 || this.#fields.event !== undefined) {
        const text = this.#fields.data.join('\n');
        let data: unknown = text;
        try {
          data = JSON.parse(text);
        } catch {
          // not JSON: kept as text
        }
        this.frames.push({
          event: this.#fields.event ?? 'message',
          ...(this.#fields.id === undefined ? {} : { id: this.#fields.id }),
          data,
        });
        this.#wake();
      }
      this.#fields = { data: [] };
      return;
    }
    if (line.startsWith(':')) {
      this.frames.push({ event: 'comment', data: line.slice(1) });
      this.#wake();
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#fields.event = value;
    else if (field === 'id') this.#fields.id = value;
    else if (field === 'data') this.#fields.data.push(value);
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Opens `url` with fetch and parses what arrives. Rejects if the answer is not a stream. */
export async function openEventStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ parser: SseParser; status: number; headers: Headers; close: () => void }> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const parser = new SseParser();
  const body = response.body;
  if (body !== null) {
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of body) parser.push(decoder.decode(chunk, { stream: true }));
      } catch {
        // aborted by close()
      }
      parser.end();
    })();
  } else {
    parser.end();
  }
  return {
    parser,
    status: response.status,
    headers: response.headers,
    close: () => controller.abort(),
  };
}

/**
 * Opens `url` with node:http, whose response can be paused: a paused client
 * stops reading the socket, so the server sees a slow reader (TCP backpressure).
 */
export async function openPausableEventStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ parser: SseParser; response: IncomingMessage; close: () => void }> {
  const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers } });
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
  const parser = new SseParser();
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => parser.push(chunk));
  response.on('close', () => parser.end());
  return { parser, response, close: () => req.destroy() };
}
