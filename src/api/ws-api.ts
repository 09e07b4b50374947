/**
 * One WebSocket connection: the envelope, authentication, dispatch to
 * {@link COMMANDS}, and streams. Every failure is answered on this socket as
 * an error frame; nothing a client sends can close the server or another
 * client's socket.
 *
 * Frame limits: text over {@link MAX_FRAME_BYTES} or JSON nested deeper than
 * {@link MAX_JSON_DEPTH} is answered `invalid_message`; frames over ws's
 * `maxPayload` (1 MiB, set in server.ts) and text frames that are not UTF-8
 * never reach this module: ws closes that one socket (1009, 1007).
 *
 * Authentication (password set): the first frame carries only
 * {@link PreAuthServerInfo}; the full server info comes with the login
 * result. Every command re-checks the socket's session, and the socket
 * watches its token: a logout from any socket, or the session's expiry or
 * eviction, ends this socket's streams and answers its next command
 * `not_authenticated` (an unsolicited `not_authenticated` frame with a null
 * `message_id` says so at once).
 *
 * A client that stops reading is not buffered forever: once its socket holds
 * more than {@link MAX_BUFFERED_BYTES} or {@link MAX_PENDING_FRAMES} unsent
 * frames it is disconnected (close code 1008), so one stalled browser tab
 * cannot grow the server's memory or slow the others. Our own big frames
 * are not "falling behind": a stream's snapshot (`initial_state` and its
 * `devices_chunk`s) is exempt, and so is any frame sent while nothing else
 * is queued (one large answer). All sockets together are held to the
 * server-wide {@link OutboundBudget} (ws-limits.ts): past it the socket with
 * the most queued bytes is dropped with 1013.
 *
 * Streams count from the moment their command arrives, not when its handler
 * finishes, so pipelined `subscribe_events` cannot open more than
 * {@link MAX_STREAMS_PER_SOCKET}. Event data arrives already serialised
 * (event-hub.ts); a stream only wraps it in its envelope.
 */
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { AuthManager } from '../auth/auth.js';
import { AuthError } from '../auth/auth.js';
import type { ErrorCode, LoginResult, MessageId, PreAuthServerInfo, ResponseFrame, ServerGreeting, ServerInfo } from '../shared/protocol.js';
import type { Logger } from '../util/log.js';
import { ApiError } from './api-error.js';
import { COMMANDS, STREAMING_COMMANDS, type ApiServices, type SnapshotFrame, type StreamSink } from './commands.js';
import { FRAME_OVERHEAD_BYTES, type BudgetMember, type ConnectionLimiter, type OutboundBudget } from './ws-limits.js';

/** Larger text frames are refused with `invalid_message` (ws itself closes past 1 MiB). */
export const MAX_FRAME_BYTES = 64 * 1024;
/**
 * Deeper JSON is refused with `invalid_message` before any schema sees it:
 * zod's recursive `z.json()` (preference values) and `JSON.stringify` recurse
 * per level and overflow the stack a few thousand levels down, which a 64 KiB
 * frame reaches easily (`[[[[...`). No command needs more than a handful.
 */
export const MAX_JSON_DEPTH = 64;
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
export const MAX_PENDING_FRAMES = 5000;
/** Each stream holds listeners; a page needs two or three, so this only stops runaway clients. */
export const MAX_STREAMS_PER_SOCKET = 32;

const envelope = z.object({
  command: z.string().min(1).max(100),
  message_id: z.union([z.string().max(100), z.number().int().safe()]),
  args: z.record(z.string(), z.unknown()).optional(),
});

const unsubscribeArgs = z.strictObject({ message_id: z.union([z.string().max(100), z.number().int().safe()]) });

const loginArgs = z.union([z.strictObject({ password: z.string().max(1024) }), z.strictObject({ token: z.string().max(256) })]);

export interface ConnectionDeps {
  services: ApiServices;
  auth: AuthManager;
  serverInfo: () => ServerInfo;
  logger: Logger;
  onSlowClientDropped?: () => void;
  /** Open streams per source address and in total (server-wide); none in unit tests. */
  streamLimiter?: ConnectionLimiter;
  /** The server-wide limit on queued outbound bytes; none in unit tests. */
  budget?: OutboundBudget;
}

/** An open stream: its cleanups, and its snapshot while that is being sent. */
interface StreamState {
  /** `"message_id":<id>,` ready to splice into every frame of the stream. */
  readonly head: string;
  readonly cleanups: (() => void)[];
  ended: boolean;
  snapshot: Iterator<SnapshotFrame> | null;
  /** Frames sent while the snapshot is in progress; they follow it. */
  held: string[];
}

export function handleConnection(socket: WebSocket, remoteAddress: string, deps: ConnectionDeps): void {
  const log = deps.logger.child({ client: remoteAddress });
  /** Open streams by the message_id that opened them (counted from the moment the command arrived). */
  const streams = new Map<MessageId, StreamState>();
  const requiresAuth = deps.auth.requiresAuth;
  let authenticated = !requiresAuth;
  let token: string | null = null;
  let unwatch: (() => void) | null = null;
  /** Frames handed to ws (or held behind a snapshot) that have not reached the kernel yet. */
  let pending = 0;
  /** Their bytes, exempt frames excluded: what the slow-client limit looks at. */
  let queued = 0;
  /** Everything this socket holds in the server-wide budget (exempt frames and overhead included). */
  let budgeted = 0;
  let closed = false;

  const budgetMember: BudgetMember = {
    get queuedBytes() {
      return queued;
    },
    shed: () => drop(1013, 'server overloaded: try again later', 'the server holds too much unsent data; dropping the client with the most'),
  };
  deps.budget?.join(budgetMember);

  /** Leaves the budget once, releasing what this socket holds there. */
  const leaveBudget = (): void => {
    if (!deps.budget) return;
    deps.budget.leave(budgetMember, budgeted);
    budgeted = 0;
  };

  const drop = (code: number, reason: string, message: string): void => {
    if (closed) return;
    log.warn({ pending, queued, buffered: socket.bufferedAmount, code }, message);
    closed = true;
    leaveBudget();
    deps.onSlowClientDropped?.();
    socket.close(code, reason);
    // A client that is not reading will not complete the close handshake either.
    setTimeout(() => socket.terminate(), 1000).unref();
  };

  const fellBehind = (): boolean => {
    if (queued <= MAX_BUFFERED_BYTES && pending <= MAX_PENDING_FRAMES) return false;
    drop(1008, 'too slow: fell behind the event stream', 'client fell too far behind; disconnecting it');
    return true;
  };

  /**
   * Sends one text frame. `exempt` frames (snapshots) and a frame sent while
   * nothing else is queued do not count against the slow-client limit.
   */
  const sendText = (text: string, options: { exempt?: boolean; sent?: () => void } = {}): boolean => {
    if (closed || socket.readyState !== socket.OPEN) return false;
    if (fellBehind()) return false;
    const bytes = Buffer.byteLength(text);
    const counted = options.exempt || pending === 0 ? 0 : bytes;
    const cost = bytes + FRAME_OVERHEAD_BYTES;
    pending++;
    queued += counted;
    budgeted += cost;
    socket.send(text, () => {
      if (closed) return;
      pending--;
      queued -= counted;
      budgeted -= cost;
      deps.budget?.release(cost);
      options.sent?.();
    });
    // Last: this may shed a socket (this one included).
    deps.budget?.add(cost);
    return true;
  };

  const send = (frame: ResponseFrame | ServerGreeting): void => {
    sendText(JSON.stringify(frame));
  };
  const sendError = (messageId: MessageId | null, code: ErrorCode, details: string): void => send({ message_id: messageId, error_code: code, details });

  /** One event of a stream: behind its snapshot if that is still going out. */
  const streamEvent = (state: StreamState, name: string, json: string): void => {
    if (state.ended || closed) return;
    const text = `{${state.head}"event":${JSON.stringify(name)},"data":${json}}`;
    if (!state.snapshot) {
      sendText(text);
      return;
    }
    // Held frames are owed to the client: they count like queued ones.
    if (fellBehind()) return;
    state.held.push(text);
    pending++;
    queued += Buffer.byteLength(text);
  };

  const releaseHeld = (state: StreamState): string[] => {
    const held = state.held;
    state.held = [];
    for (const text of held) {
      pending--;
      queued -= Buffer.byteLength(text);
    }
    return held;
  };

  /** Sends the snapshot's next frame once the previous one reached the kernel; then what was held. */
  const pumpSnapshot = (state: StreamState): void => {
    if (state.ended || closed || !state.snapshot) return;
    let next: IteratorResult<SnapshotFrame>;
    try {
      next = state.snapshot.next();
    } catch (err) {
      log.error({ err }, 'snapshot failed');
      next = { done: true, value: undefined };
    }
    if (next.done) {
      state.snapshot = null;
      for (const text of releaseHeld(state)) sendText(text);
      return;
    }
    const text = `{${state.head}"event":${JSON.stringify(next.value.event)},"data":${next.value.json}}`;
    sendText(text, { exempt: true, sent: () => pumpSnapshot(state) });
  };

  const endStream = (id: MessageId): boolean => {
    const state = streams.get(id);
    if (!state) return false;
    streams.delete(id);
    deps.streamLimiter?.release(remoteAddress);
    state.ended = true;
    state.snapshot = null;
    releaseHeld(state);
    for (const cleanup of state.cleanups.splice(0)) {
      try {
        cleanup();
      } catch (err) {
        log.error({ err }, 'stream cleanup failed');
      }
    }
    return true;
  };

  const endAllStreams = (): void => {
    for (const id of [...streams.keys()]) endStream(id);
  };

  /** Drops this socket's session: no streams, no commands until it logs in again. */
  const signOut = (): void => {
    unwatch?.();
    unwatch = null;
    token = null;
    authenticated = !requiresAuth;
    if (requiresAuth) endAllStreams();
  };

  socket.on('close', () => {
    closed = true;
    leaveBudget();
    unwatch?.();
    unwatch = null;
    endAllStreams();
  });
  socket.on('error', (err) => log.debug({ err }, 'socket error'));

  socket.on('message', (raw, isBinary) => {
    void (async () => {
      if (isBinary) return sendError(null, 'invalid_message', 'binary frames are not accepted; send JSON text');
      const bytes = Array.isArray(raw) ? raw.reduce((n, b) => n + b.length, 0) : (raw as Buffer).byteLength;
      if (bytes > MAX_FRAME_BYTES) return sendError(null, 'invalid_message', `frame too large (${bytes} bytes)`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString());
      } catch {
        return sendError(null, 'invalid_message', 'not valid JSON');
      }
      if (jsonDepthExceeds(parsed, MAX_JSON_DEPTH)) {
        return sendError(messageIdOf(parsed), 'invalid_message', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
      }
      const frame = envelope.safeParse(parsed);
      if (!frame.success) {
        const id = messageIdOf(parsed);
        return sendError(id, 'invalid_message', 'expected {"command": string, "message_id": string|int, "args": object}');
      }
      const { command, message_id: messageId, args = {} } = frame.data;
      try {
        if (command === 'auth/login') {
          const grant = await login(args);
          if (closed) return;
          unwatch?.();
          authenticated = true;
          token = grant.token;
          if (requiresAuth) {
            const watched = grant.token;
            unwatch = deps.auth.watchSession(watched, () => {
              if (token !== watched) return;
              unwatch = null;
              signOut();
              sendError(null, 'not_authenticated', 'the session ended (logged out elsewhere or expired); log in again');
            });
          }
          const result: LoginResult = { ...grant, server_info: deps.serverInfo() };
          return send({ message_id: messageId, result });
        }
        if (!authenticated) throw new ApiError('not_authenticated', 'log in first with auth/login');
        if (requiresAuth && !(await deps.auth.validate(token))) {
          // Expired or revoked since this socket logged in.
          signOut();
          throw new ApiError('not_authenticated', 'the session ended (logged out elsewhere or expired); log in again');
        }
        if (command === 'auth/logout') {
          const ending = token;
          // Unwatch first: this socket learns of its own logout from the reply.
          signOut();
          if (ending) await deps.auth.logout(ending);
          return send({ message_id: messageId, result: { logged_out: true } });
        }
        if (command === 'unsubscribe') {
          const target = unsubscribeArgs.safeParse(args);
          if (!target.success) throw new ApiError('invalid_args', 'unsubscribe takes {"message_id": the id that opened the stream}');
          if (!endStream(target.data.message_id)) throw new ApiError('not_found', 'no open stream with that message_id');
          return send({ message_id: messageId, result: { unsubscribed: target.data.message_id } });
        }
        const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
        if (!spec) throw new ApiError('unknown_command', `unknown command ${JSON.stringify(command)}`);
        let state: StreamState | null = null;
        if (STREAMING_COMMANDS.has(command)) {
          if (streams.has(messageId)) throw new ApiError('invalid_args', 'a stream with this message_id is already open');
          if (streams.size >= MAX_STREAMS_PER_SOCKET) {
            throw new ApiError('invalid_args', `this socket already has ${MAX_STREAMS_PER_SOCKET} open streams; unsubscribe from one first`);
          }
          const refused = deps.streamLimiter?.acquire(remoteAddress);
          if (refused) {
            throw new ApiError(
              'invalid_args',
              refused === 'total'
                ? 'the server has too many open streams; try again later'
                : 'too many open streams from this address; unsubscribe or close other tabs',
            );
          }
          // Counted now, before any await: pipelined requests see it.
          state = { head: `"message_id":${JSON.stringify(messageId)},`, cleanups: [], ended: false, snapshot: null, held: [] };
          streams.set(messageId, state);
        }
        const opened = state;
        try {
          const checked = spec.args.safeParse(args);
          if (!checked.success) throw new ApiError('invalid_args', z.prettifyError(checked.error).replace(/\n/g, '; '));
          // Nothing answers from a half-read config dir: the first scan runs after listen.
          if (!deps.services.catalog.scanned) await deps.services.catalog.whenScanned();
          const stream: StreamSink = {
            event: (name, data) => {
              if (opened) streamEvent(opened, name, JSON.stringify(data) ?? 'null');
            },
            eventJson: (name, json) => {
              if (opened) streamEvent(opened, name, json);
            },
            snapshot: (frames) => {
              if (!opened || opened.ended || opened.snapshot) return;
              opened.snapshot = frames;
              pumpSnapshot(opened);
            },
            onClose: (cleanup) => {
              if (closed || !opened || opened.ended) return cleanup();
              opened.cleanups.push(cleanup);
            },
          };
          const result = await spec.handler(checked.data, { services: deps.services, stream });
          send({ message_id: messageId, result: result ?? null });
        } catch (err) {
          if (opened && streams.get(messageId) === opened) endStream(messageId);
          throw err;
        }
      } catch (err) {
        if (err instanceof ApiError) return sendError(messageId, err.code, err.message);
        if (err instanceof AuthError) return sendError(messageId, err.code, err.message);
        log.error({ err, command }, 'command failed');
        sendError(messageId, 'internal_error', 'the command failed on the server; see its log');
      }
    })().catch((err: unknown) => {
      // Nothing above should throw outside its try; if something does, it must
      // not become an unhandled rejection (which ends the process).
      log.error({ err }, 'message handler failed');
    });
  });

  async function login(args: Record<string, unknown>) {
    const checked = loginArgs.safeParse(args);
    if (!checked.success) throw new ApiError('invalid_args', 'auth/login takes {"password": string} or {"token": string}');
    return 'password' in checked.data ? deps.auth.login(checked.data.password, remoteAddress) : deps.auth.resume(checked.data.token, remoteAddress);
  }

  send(requiresAuth ? preAuthServerInfo(deps.serverInfo()) : deps.serverInfo());
}

/** What a password-protected server tells a socket before it logs in. */
export function preAuthServerInfo(info: ServerInfo): PreAuthServerInfo {
  return { server_version: info.server_version, requires_auth: true };
}

function messageIdOf(value: unknown): MessageId | null {
  if (typeof value !== 'object' || value === null) return null;
  const id = (value as Record<string, unknown>)['message_id'];
  return typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)) ? id : null;
}

/**
 * Whether `value` nests objects/arrays more than `limit` deep (`{}` and
 * `[1]` are depth 1). Iterative, so any depth is safe to measure, and it
 * stops at the first path past the limit.
 */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
