/**
 * A small test client for the `/ws` API over a real socket: request/reply by
 * message_id, a log of every frame, and waiting for events by predicate.
 */
import WebSocket from 'ws';

export interface Frame {
  message_id?: string | number | null;
  result?: unknown;
  error_code?: string;
  details?: string;
  event?: string;
  data?: unknown;
  [key: string]: unknown;
}

export class WsClient {
  readonly frames: Frame[] = [];
  private waiters: { predicate: (frame: Frame) => boolean; resolve: (frame: Frame) => void }[] = [];
  private nextId = 1;
  closeCode: number | null = null;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.predicate(frame)) return true;
        waiter.resolve(frame);
        return false;
      });
    });
    socket.on('close', (code) => (this.closeCode = code));
  }

  /** Connects and waits for the server-info frame. */
  static async connect(url: string, options: { origin?: string; headers?: Record<string, string>; localAddress?: string } = {}): Promise<WsClient> {
    const socket = new WebSocket(url, { origin: options.origin, headers: options.headers, localAddress: options.localAddress });
    const client = new WsClient(socket);
    const first = client.waitFor((frame) => 'server_version' in frame, 5000);
    // A refused upgrade never sends the frame: its rejection is not the error to report.
    first.catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (req, res) => {
        // With this listener ws leaves the refused request open: close it, or the server waits for it.
        req.destroy();
        reject(new Error(`HTTP ${res.statusCode}`));
      });
    });
    await first;
    return client;
  }

  get serverInfo(): Frame {
    return this.frames[0] as Frame;
  }

  sendRaw(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.socket.send(data, { binary: options.binary ?? false });
  }

  /** Sends a command and resolves with its reply (result or error frame). */
  request(command: string, args?: Record<string, unknown>): Promise<Frame> {
    const id = `m${this.nextId++}`;
    const reply = this.waitFor((frame) => frame.message_id === id && (frame.result !== undefined || frame.error_code !== undefined), 20_000);
    this.socket.send(JSON.stringify({ command, message_id: id, ...(args === undefined ? {} : { args }) }));
    return reply;
  }

  /** Like {@link request} but fails unless the reply is a result. */
  async call<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    const frame = await this.request(command, args);
    if (frame.error_code) throw new Error(`${command} failed: ${frame.error_code}: ${frame.details}`);
    return frame.result as T;
  }

  /** Resolves with the first frame (already received or future) matching `predicate`. */
  waitFor(predicate: (frame: Frame) => boolean, timeoutMs = 15_000): Promise<Frame> {
    const seen = this.frames.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      });
    });
  }

  /** Waits for an event frame named `event` whose data matches `predicate`, received after `after` frames. */
  waitForEvent(event: string, predicate: (data: never) => boolean = () => true, options: { after?: number; timeoutMs?: number } = {}): Promise<Frame> {
    const after = options.after ?? 0;
    return this.waitFor((frame) => frame.event === event && this.frames.indexOf(frame) >= after && predicate(frame.data as never), options.timeoutMs);
  }

  events(name: string): Frame[] {
    return this.frames.filter((frame) => frame.event === name);
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}
