/**
 * The commands the page sends, with their arguments and results: the shared
 * map of src/shared/commands.ts, which the server's handlers are
 * type-checked against, so the page's view cannot drift from the server's.
 */
export type { ArgsOf, CommandMap, CommandName, Preferences, ResultOf } from '../../../src/shared/commands.js';

/** `{token, expires_at, server_info}`; `server_info` is the full server info (see protocol.ts). */
export type { LoginResult } from '../../../src/shared/protocol.js';
