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
 * cannot grow the server's memory or slow the others.
 */
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { AuthManager } from '../auth/auth.js';
import { AuthError } from '../auth/auth.js';
import type { ErrorCode, LoginResult, MessageId, PreAuthServerInfo, ResponseFrame, ServerGreeting, ServerInfo } from '../shared/protocol.js';
import type { Logger } from '../util/log.js';
import { ApiError } from './api-error.js';
import { COMMANDS, STREAMING_COMMANDS, type ApiServices, type StreamSink } from './commands.js';

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

const loginArgs = z.union([
  z.strictObject({ password: z.string().max(1024) }),
  z.strictObject({ token: z.string().max(256) }),
]);

export interface ConnectionDeps {
  services: ApiServices;
  auth: AuthManager;
  serverInfo: () => ServerInfo;
  logger: Logger;
  onSlowClientDropped?: () => void;
}

export function handleConnection(socket: WebSocket, remoteAddress: string, deps: ConnectionDeps): void {
  const log = deps.logger.child({ client: remoteAddress });
  /** Open streams' cleanups by the message_id that opened them. */
  const streams = new Map<MessageId, (() => void)[]>();
  const requiresAuth = deps.auth.requiresAuth;
  let authenticated = !requiresAuth;
  let token: string | null = null;
  let unwatch: (() => void) | null = null;
  let pending = 0;
  let closed = false;

  const send = (frame: ResponseFrame | ServerGreeting): void => {
    if (closed || socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES || pending > MAX_PENDING_FRAMES) {
      log.warn({ pending, buffered: socket.bufferedAmount }, 'client fell too far behind; disconnecting it');
      closed = true;
      deps.onSlowClientDropped?.();
      socket.close(1008, 'too slow: fell behind the event stream');
      // A client that is not reading will not complete the close handshake either.
      setTimeout(() => socket.terminate(), 1000).unref();
      return;
    }
    pending++;
    socket.send(JSON.stringify(frame), () => {
      pending--;
    });
  };
  const sendError = (messageId: MessageId | null, code: ErrorCode, details: string): void =>
    send({ message_id: messageId, error_code: code, details });

  const endStream = (id: MessageId): boolean => {
    const cleanups = streams.get(id);
    if (!cleanups) return false;
    streams.delete(id);
    for (const cleanup of cleanups) {
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
        if (STREAMING_COMMANDS.has(command) && streams.size >= MAX_STREAMS_PER_SOCKET) {
          throw new ApiError('invalid_args', `this socket already has ${MAX_STREAMS_PER_SOCKET} open streams; unsubscribe from one first`);
        }
        const checked = spec.args.safeParse(args);
        if (!checked.success) throw new ApiError('invalid_args', z.prettifyError(checked.error).replace(/\n/g, '; '));
        const stream: StreamSink = {
          event: (name, data) => send({ message_id: messageId, event: name, data }),
          onClose: (cleanup) => {
            if (closed) return cleanup();
            const list = streams.get(messageId) ?? [];
            list.push(cleanup);
            streams.set(messageId, list);
          },
        };
        const result = await spec.handler(checked.data, { services: deps.services, stream });
        send({ message_id: messageId, result: result ?? null });
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
    return 'password' in checked.data
      ? deps.auth.login(checked.data.password, remoteAddress)
      : deps.auth.resume(checked.data.token, remoteAddress);
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
