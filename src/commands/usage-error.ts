/**
 * A user-facing failure of any command: the CLI prints its message as one
 * line on stderr and exits 2 (bad input), with nothing written. Its own
 * module so every command (and the settings it reads) can throw it without
 * importing another command.
 */
export class UsageError extends Error {}
