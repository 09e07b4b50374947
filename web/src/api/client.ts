/**
 * The page's one connection to the server's `/ws` socket.
 *
 * - Request/response by `message_id`; streams (`subscribe_events`,
 *   `firmware/follow_job`) deliver `{message_id, event, data}` frames to a
 *   handler given with the request. The server may send a stream's first
 *   events before its result (`initial_state`, the end of an already
 *   finished job), so the handler is live from the moment of sending.
 * - The first frame of every connection is the server's info; when it says
 *   `requires_auth`, it holds nothing else a stranger may not see, a stored
 *   token is resumed (`auth/login {token}`) or the page asks for the
 *   password, and the full info (config folder, ESPHome version) arrives
 *   with the login result. The token lives in localStorage so a reload
 *   stays signed in.
 * - A session that ends elsewhere (logged out in another tab, expired) is
 *   announced by a `not_authenticated` frame without a `message_id`, or
 *   answers the next request so: the page then asks for the password.
 * - Closing a stream stops its events at once and sends `unsubscribe` so the
 *   server stops producing them (after the stream's result arrived: before
 *   that the server may not have opened it yet).
 * - When the socket drops, every pending request fails with `disconnected`,
 *   streams end, and the client retries on the {@link backoffDelay} schedule
 *   until it is back; `onReady` listeners then re-subscribe. The status
 *   (phase, next retry) is observable so the page can say it is offline.
 *
 * No DOM beyond `WebSocket` and `localStorage`, both injectable for tests.
 */
import type { ErrorCode, MessageId, ServerGreeting, ServerInfo } from '../../../src/shared/protocol.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { ArgsOf, CommandName, ResultOf } from './commands.js';

export type Phase = 'connecting' | 'login' | 'online' | 'offline';

export interface ConnectionStatus {
  phase: Phase;
  /**
   * The last server info received; kept while offline. Before login on a
   * password-protected server only `server_version` and `requires_auth`.
   */
  serverInfo: ClientServerInfo | null;
  /** While offline: when the next attempt starts (epoch ms). */
  retryAt: number | null;
  /** Failed attempts in a row. */
  attempts: number;
  /** Why the login screen is shown again (bad password, rate limited), if known. */
  loginError: string | null;
  /** True once the page has been online at least once (a drop is then a reconnect). */
  everOnline: boolean;
}

/** The greeting, or the full info once known: fields other than these two may be absent before login. */
export type ClientServerInfo = Pick<ServerInfo, 'server_version' | 'requires_auth'> & Partial<ServerInfo>;

export type RequestErrorCode = ErrorCode | 'disconnected' | 'offline';

export class RequestError extends Error {
  constructor(
    readonly code: RequestErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** The part of `WebSocket` the client uses. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type SocketFactory = (url: string) => SocketLike;

export interface TokenStore {
  get(): string | null;
  set(token: string | null): void;
}

export const TOKEN_KEY = 'device-builder.token';

/** The session token in localStorage; a browser that refuses storage just forgets it. */
export function localStorageTokens(key = TOKEN_KEY): TokenStore {
  return {
    get: () => {
      try {
        return localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set: (token) => {
      try {
        if (token === null) localStorage.removeItem(key);
        else localStorage.setItem(key, token);
      } catch {
        // Private mode or storage disabled: the session lasts as long as the tab.
      }
    },
  };
}

/** A token store in memory, for tests and browsers without storage. */
export function memoryTokens(initial: string | null = null): TokenStore {
  let token = initial;
  return { get: () => token, set: (value) => void (token = value) };
}

export type EventHandler = (event: string, data: unknown) => void;

export interface StreamHandle<R> {
  /** The command's result (after any events the server sent first). */
  result: Promise<R>;
  /** Stops delivering events to the handler and ends the stream on the server (`unsubscribe`). */
  close(): void;
}

export interface ClientOptions {
  url: string;
  socketFactory?: SocketFactory;
  tokens?: TokenStore;
  backoff?: BackoffOptions;
  random?: () => number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  onEvent?: EventHandler;
}

const OPEN = 1;

function isServerInfo(frame: unknown): frame is ServerGreeting {
  return typeof frame === 'object' && frame !== null && 'server_version' in frame && 'requires_auth' in frame;
}

/** The socket URL next to the page (`/ws` when served at `/`), ws or wss to match. */
export function socketUrlFor(location: { href: string; protocol: string }): string {
  const url = new URL('ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  url.search = '';
  return url.toString();
}

export class ApiClient {
  private readonly factory: SocketFactory;
  private readonly tokens: TokenStore;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  private socket: SocketLike | null = null;
  private readonly pending = new Map<MessageId, Pending>();
  private readonly streams = new Map<MessageId, EventHandler>();
  private nextId = 1;
  private retryTimer: unknown = null;
  private stopped = true;
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  private readonly readyListeners = new Set<() => void>();
  private current: ConnectionStatus = {
    phase: 'connecting',
    serverInfo: null,
    retryAt: null,
    attempts: 0,
    loginError: null,
    everOnline: false,
  };

  constructor(private readonly options: ClientOptions) {
    this.factory = options.socketFactory ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.tokens = options.tokens ?? localStorageTokens();
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
  }

  get status(): ConnectionStatus {
    return this.current;
  }

  /** Called with every status change; returns an unsubscribe function. */
  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Called each time the connection becomes usable (after auth): subscribe here. */
  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry();
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, 'page closed');
    this.failAll(new RequestError('disconnected', 'the connection was closed'));
  }

  /** Skips the wait while offline. */
  retryNow(): void {
    if (this.stopped || this.current.phase !== 'offline') return;
    this.cancelRetry();
    this.connect();
  }

  /** Sends a command; rejects with {@link RequestError} (`offline` when not connected and signed in). */
  request<C extends CommandName>(command: C, args?: ArgsOf<C>): Promise<ResultOf<C>> {
    if (this.current.phase !== 'online') {
      return Promise.reject(new RequestError('offline', 'not connected to the server'));
    }
    return this.send(command, args) as Promise<ResultOf<C>>;
  }

  /** Sends a streaming command; `onEvent` receives its events until `close()` or disconnect. */
  stream<C extends CommandName>(command: C, args: ArgsOf<C>, onEvent: EventHandler): StreamHandle<ResultOf<C>> {
    let open = true;
    const guarded: EventHandler = (event, data) => {
      if (open) onEvent(event, data);
    };
    if (this.current.phase !== 'online') {
      return { result: Promise.reject(new RequestError('offline', 'not connected to the server')), close: () => void (open = false) };
    }
    const socket = this.socket;
    const sent = this.sendFrame(command, args, guarded);
    return {
      result: sent.promise as Promise<ResultOf<C>>,
      close: () => {
        if (!open) return;
        open = false;
        if (sent.id === null) return;
        const id = sent.id;
        // Runs after the result settled, so the stream's routing entry exists (or never will).
        sent.promise.then(
          () => this.endStream(id, socket),
          () => undefined,
        );
      },
    };
  }

  /** Signs in with the password; on success the token is stored and the client goes online. */
  async login(password: string): Promise<void> {
    if (this.current.phase !== 'login') throw new RequestError('offline', 'not waiting for a login');
    try {
      const result = (await this.send('auth/login', { password })) as ResultOf<'auth/login'>;
      this.tokens.set(result.token);
      this.takeServerInfo(result);
      this.becomeOnline();
    } catch (err) {
      const message = err instanceof RequestError && err.code === 'not_authenticated' ? 'Wrong password' : (err as Error).message;
      this.setStatus({ loginError: message });
      throw err;
    }
  }

  /** Ends the session on the server and forgets the token. */
  async logout(): Promise<void> {
    try {
      await this.request('auth/logout', {});
    } finally {
      this.tokens.set(null);
      if (this.current.serverInfo?.requires_auth) this.setStatus({ phase: 'login', loginError: null });
    }
  }

  private connect(): void {
    this.retryTimer = null;
    this.setStatus({ phase: 'connecting', retryAt: null });
    let socket: SocketLike;
    try {
      socket = this.factory(this.options.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    let greeted = false;
    socket.onmessage = (message) => {
      if (this.socket !== socket) return;
      let frame: unknown;
      try {
        frame = JSON.parse(String(message.data));
      } catch {
        return;
      }
      if (!greeted) {
        if (!isServerInfo(frame)) return;
        greeted = true;
        void this.greet(frame);
        return;
      }
      this.dispatch(frame as Record<string, unknown>);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failAll(new RequestError('disconnected', 'the connection to the server was lost'));
      if (!this.stopped) this.scheduleRetry();
    };
    socket.onerror = () => {
      // 'close' follows and drives the retry.
    };
  }

  private async greet(info: ServerGreeting): Promise<void> {
    this.setStatus({ serverInfo: info, attempts: 0 });
    if (!info.requires_auth) return this.becomeOnline();
    const token = this.tokens.get();
    if (!token) return this.setStatus({ phase: 'login', loginError: null });
    try {
      const result = (await this.send('auth/login', { token })) as ResultOf<'auth/login'>;
      this.tokens.set(result.token);
      this.takeServerInfo(result);
      this.becomeOnline();
    } catch (err) {
      if (err instanceof RequestError && err.code === 'disconnected') return;
      const code = err instanceof RequestError ? err.code : 'internal_error';
      if (code !== 'rate_limited') this.tokens.set(null);
      this.setStatus({ phase: 'login', loginError: code === 'rate_limited' ? (err as Error).message : null });
    }
  }

  /** The full server info sent with a successful login (an older server sends none). */
  private takeServerInfo(result: { server_info?: ServerInfo }): void {
    if (typeof result.server_info === 'object' && result.server_info !== null) this.setStatus({ serverInfo: result.server_info });
  }

  /** The session ended on the server: forget the token and ask for the password. */
  private sessionEnded(): void {
    if (this.current.phase !== 'online' || !this.current.serverInfo?.requires_auth) return;
    this.tokens.set(null);
    this.setStatus({ phase: 'login', loginError: 'Your session ended; sign in again.' });
  }

  private becomeOnline(): void {
    this.setStatus({ phase: 'online', loginError: null, everOnline: true, attempts: 0 });
    for (const listener of [...this.readyListeners]) {
      try {
        listener();
      } catch (err) {
        console.error('ready listener failed', err);
      }
    }
  }

  private send(command: string, args: unknown, onEvent?: EventHandler): Promise<unknown> {
    return this.sendFrame(command, args, onEvent).promise;
  }

  private sendFrame(command: string, args: unknown, onEvent?: EventHandler): { id: number | null; promise: Promise<unknown> } {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) {
      return { id: null, promise: Promise.reject(new RequestError('disconnected', 'not connected to the server')) };
    }
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(onEvent ? { onEvent } : {}) });
      socket.send(JSON.stringify({ command, message_id: id, args: args ?? {} }));
    });
    return { id, promise };
  }

  /** Forgets a stream's events and asks the server to end it, if it is still on the same connection. */
  private endStream(id: MessageId, socket: SocketLike | null): void {
    this.streams.delete(id);
    if (socket === null || this.socket !== socket || this.current.phase !== 'online') return;
    // A stream the server already ended answers not_found: nothing to do either way.
    this.send('unsubscribe', { message_id: id }).catch(() => undefined);
  }

  private dispatch(frame: Record<string, unknown>): void {
    const id = frame['message_id'] as MessageId | null | undefined;
    if (id === null || id === undefined) {
      if (frame['error_code'] === 'not_authenticated') return this.sessionEnded();
      if ('error_code' in frame) console.warn('server error', frame['error_code'], frame['details']);
      return;
    }
    if (typeof frame['event'] === 'string') {
      const handler = this.pending.get(id)?.onEvent ?? this.streams.get(id);
      handler?.(frame['event'], frame['data']);
      return;
    }
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    if (typeof frame['error_code'] === 'string') {
      const code = frame['error_code'] as ErrorCode;
      pending.reject(new RequestError(code, String(frame['details'] ?? code)));
      if (code === 'not_authenticated') this.sessionEnded();
      return;
    }
    if (pending.onEvent) this.streams.set(id, pending.onEvent);
    pending.resolve(frame['result']);
  }

  private failAll(err: RequestError): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.streams.clear();
    for (const entry of pending) entry.reject(err);
  }

  private scheduleRetry(): void {
    const attempts = this.current.attempts;
    const delay = backoffDelay(attempts, this.backoff, this.random);
    this.setStatus({ phase: 'offline', attempts: attempts + 1, retryAt: this.now() + delay });
    this.cancelRetry();
    this.retryTimer = this.setTimer(() => this.connect(), delay);
  }

  private cancelRetry(): void {
    if (this.retryTimer !== null) this.clearTimer(this.retryTimer);
    this.retryTimer = null;
  }

  private setStatus(patch: Partial<ConnectionStatus>): void {
    this.current = { ...this.current, ...patch };
    for (const listener of [...this.statusListeners]) listener(this.current);
  }
}
