/**
 * The `/ws` API fuzzer shared by `test/api/api-fuzz.test.ts` (about 1,000 frames,
 * fixed seed) and `stress/api-fuzz.stress.ts` (10,000 frames).
 *
 * Frames come from fast-check arbitraries: well-formed envelopes naming real
 * commands (`Object.keys(COMMANDS)` plus the connection-level ones) with
 * valid, mutated or random arguments; broken envelopes (wrong types, missing
 * fields, prototype keys, out-of-range ids); text that is not JSON; JSON
 * nested thousands of levels deep; strings up to ~200 KB; binary frames; and
 * a few "socket killers" that the WebSocket layer itself refuses by closing
 * the socket (over ws's 1 MiB `maxPayload`: 1009; text that is not UTF-8:
 * 1007), which are sent on throwaway sockets.
 *
 * The contract checked, per frame on the fuzzing socket:
 * - it gets exactly one reply frame (one with `result` or `error_code`;
 *   stream `event` frames are not replies);
 * - the reply's `message_id` is the frame's own when the frame is text of at
 *   most {@link MAX_FRAME_BYTES}, parses as a JSON object and its
 *   `message_id` is a string or a safe integer ("readable"), else null;
 * - frames that are not text, too big, not JSON, not an envelope or nested
 *   too deeply answer `invalid_message`; a valid envelope naming no command
 *   answers `unknown_command`; nothing answers `internal_error`.
 * Frames go out in bursts of 1-8 without waiting (so handlers overlap); a
 * burst's replies must match its expected id multiset exactly before the
 * next burst, and at the end the number of replies equals the number of
 * frames (nothing arrives late or twice).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import fc from 'fast-check';
import WebSocket from 'ws';
import { COMMANDS } from '../../src/api/commands.js';
import { MAX_FRAME_BYTES, MAX_JSON_DEPTH } from '../../src/api/ws-api.js';
import { ERROR_CODES, type MessageId } from '../../src/shared/protocol.js';
import { addDevice, makeTempDir, writeFile, listTreeNoFollow } from './fs-fixtures.js';

/** ws's `maxPayload` on the server (server.ts): bigger frames close the socket with 1009. */
export const WS_MAX_PAYLOAD = 1024 * 1024;

export const CONNECTION_COMMANDS = ['auth/login', 'auth/logout', 'unsubscribe'] as const;
export const KNOWN_COMMANDS: readonly string[] = [...Object.keys(COMMANDS), ...CONNECTION_COMMANDS];

export type FuzzFrame =
  | { kind: 'text'; label: string; text: string }
  | { kind: 'binary'; label: string; bytes: Uint8Array }
  /** Refused by the WebSocket layer: sent on a throwaway socket, which must close with `closeCode`. */
  | { kind: 'killer'; label: string; data: Buffer; binary: boolean; closeCode: number };

/** What the fuzz world looks like: names and paths the arbitraries aim at. */
export interface FuzzWorld {
  configDir: string;
  /** Paths outside the config dir that must never be touched. */
  sentinelDir: string;
  /** Device files that exist at the start (some get archived or deleted). */
  devices: string[];
  /** A build folder no device claims: `builds/delete_orphan` may legitimately delete it. */
  orphanDir: string;
}

// ---------------------------------------------------------------------------
// Raw JSON tokens: numbers JSON.stringify cannot write (1e999, -0, 2^53+1 ...)
// are carried as placeholder strings and spliced in as literal text.

const RAW_MARK = '\u0001RAW:';
const raw = (token: string): string => `${RAW_MARK}${token}\u0001`;
const RAW_RE = /"\\u0001RAW:([^"\\]*)\\u0001"/g;

/** JSON text of `value`, with {@link raw} placeholders replaced by their literal tokens. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value).replace(RAW_RE, (_m, token: string) => token);
}

// ---------------------------------------------------------------------------
// Value arbitraries

const EDGE_STRINGS = [
  '',
  ' ',
  '\0',
  'x\0.yaml',
  '\u0000\u0000',
  'NaN',
  'Infinity',
  '-0',
  'null',
  'undefined',
  'true',
  '__proto__',
  'constructor',
  'prototype',
  '__proto__.yaml',
  'constructor.yaml',
  'hasOwnProperty',
  'toString',
  '.',
  '..',
  '...',
  '.yaml',
  '../x.yaml',
  '../../etc/passwd',
  '..\\x.yaml',
  '/etc/hosts.yaml',
  '%2e%2e%2fx.yaml',
  'secrets.yaml',
  'SECRETS.YAML',
  'archive',
  '.device-builder.json',
  'a.yml',
  'küche.yaml',
  'ｋitchen.yaml',
  '\u202Egnp.yaml',
  '😀.yaml',
  '\uD800.yaml',
  '\uDFFF',
  '\uFEFFkitchen.yaml',
  'kitchen.yaml ',
  ' kitchen.yaml',
  'kitchen.YAML',
  'kitchen.yaml\n',
  `${'a'.repeat(251)}.yaml`,
  `${'é'.repeat(200)}.yaml`,
  `${'a'.repeat(300)}.yaml`,
  '${name}',
  '!secret wifi',
  "'; DROP TABLE devices; --",
  '<script>alert(1)</script>',
];

const EDGE_NUMBERS: unknown[] = [
  0,
  -1,
  1,
  1.5,
  -1.5,
  2 ** 31,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  raw('9007199254740993'),
  raw('1e999'),
  raw('-1e999'),
  raw('-0'),
  raw('1e-400'),
  raw('0.0'),
  raw('1E2'),
  Number.MIN_VALUE,
  Number.MAX_VALUE,
];

/** Strings of ~60 KB to ~200 KB once written as JSON, some multi-byte or escaped (so bytes, chars and JSON length differ). */
const hugeString = fc
  .tuple(fc.integer({ min: 60_000, max: 200_000 }), fc.constantFrom('x', 'é', '€', '😀', '\0', '"', '\\'))
  .map(([bytes, unit]) => unit.repeat(Math.max(1, Math.floor(bytes / Buffer.byteLength(JSON.stringify(unit).slice(1, -1))))));

const mediumString = fc.tuple(fc.integer({ min: 256, max: 8_000 }), fc.constantFrom('y', 'ü', '\u2028', '\t')).map(([n, unit]) => unit.repeat(n));

function weirdString(world: FuzzWorld): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...EDGE_STRINGS) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 20 }).map((s) => `${s}.yaml`) },
    { weight: 1, arbitrary: mediumString },
    { weight: 1, arbitrary: fc.constantFrom(world.configDir, world.sentinelDir, '/', path.dirname(world.configDir)) },
  );
}

/** Any JSON-ish value, sometimes hostile. */
function weirdValue(world: FuzzWorld): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: weirdString(world) },
    { weight: 2, arbitrary: fc.constantFrom(...EDGE_NUMBERS) },
    { weight: 1, arbitrary: fc.constantFrom(null, true, false) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.array(weirdString(world), { maxLength: 5 }) },
    { weight: 1, arbitrary: fc.constant({ __proto__: null, polluted: 1 }) },
    { weight: 1, arbitrary: protoObject() },
  );
}

/** An object with own `__proto__` / `constructor` / `prototype` keys (as JSON.parse makes them). */
function protoObject(): fc.Arbitrary<Record<string, unknown>> {
  return fc.constantFrom(
    JSON.parse('{"__proto__": {"polluted": "yes", "configuration": "kitchen.yaml"}}') as Record<string, unknown>,
    JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}}') as Record<string, unknown>,
    JSON.parse('{"__proto__": null, "toString": "x", "valueOf": 1}') as Record<string, unknown>,
    JSON.parse('{"prototype": {"isAdmin": true}, "__defineGetter__": 1}') as Record<string, unknown>,
  );
}

function deviceName(world: FuzzWorld): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...world.devices) },
    { weight: 1, arbitrary: fc.constantFrom('ghost.yaml', 'archive.yaml', 'secrets.yaml', 'kitchen.yml') },
    { weight: 2, arbitrary: weirdString(world) },
  );
}

/** Placeholders the driver replaces at send time with ids seen earlier in the run. */
export const JOB_ID_PLACEHOLDER = '\u0001JOB\u0001';
export const STREAM_ID_PLACEHOLDER = '\u0001STREAM\u0001';

/** Well-formed arguments per argument name. */
function argValue(name: string, world: FuzzWorld): fc.Arbitrary<unknown> {
  switch (name) {
    case 'configuration':
      return deviceName(world);
    case 'configurations':
      return fc.oneof(
        fc.array(deviceName(world), { minLength: 1, maxLength: 6 }),
        fc.array(fc.constantFrom(...world.devices), { minLength: 1, maxLength: 1001 }),
      );
    case 'port':
      return fc.oneof(fc.constantFrom('/dev/ttyUSB0', 'OTA', '192.168.1.2', 'COM3', ''), weirdString(world));
    case 'job_id':
      return fc.oneof({ weight: 3, arbitrary: fc.constant(JOB_ID_PLACEHOLDER) }, { weight: 1, arbitrary: weirdString(world) });
    case 'build_path':
      return fc.oneof(
        fc.constantFrom(
          world.orphanDir,
          world.sentinelDir,
          path.join(world.sentinelDir, 'build'),
          path.join(world.sentinelDir, 'build', 'bait'),
          world.configDir,
          path.join(world.configDir, '.esphome'),
          path.join(world.configDir, '.esphome', 'build'),
          path.join(world.configDir, '.esphome', 'build', '..', '..', '..', 'sentinel'),
          path.join(world.configDir, '.esphome', 'build', 'kitchen'),
          '/',
          '/tmp',
        ),
        weirdString(world),
      );
    case 'key':
      return fc.oneof(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'a'.repeat(65), ''),
        weirdString(world),
      );
    case 'value':
      return fc.oneof(fc.jsonValue({ maxDepth: 4 }), weirdValue(world), fc.constant('v'.repeat(17 * 1024)));
    case 'password':
    case 'token':
      return fc.oneof(fc.string({ maxLength: 40 }), fc.constant('p'.repeat(2000)), weirdString(world));
    case 'message_id':
      return fc.oneof(fc.constant(STREAM_ID_PLACEHOLDER), fc.integer(), weirdValue(world));
    default:
      return weirdValue(world);
  }
}

/** Argument names per command (what the schemas accept), for well-formed and mutated args. */
const ARG_NAMES: Record<string, string[]> = {
  'devices/archive': ['configuration'],
  'devices/archive_bulk': ['configurations'],
  'devices/unarchive': ['configuration'],
  'devices/delete': ['configuration'],
  'devices/delete_bulk': ['configurations'],
  'devices/delete_archived': ['configuration'],
  'firmware/compile': ['configuration'],
  'firmware/upload': ['configuration', 'port'],
  'firmware/install': ['configuration', 'port'],
  'firmware/clean': ['configuration'],
  'firmware/compile_bulk': ['configurations'],
  'firmware/clean_bulk': ['configurations'],
  'firmware/cancel': ['job_id'],
  'firmware/follow_job': ['job_id'],
  'builds/delete_orphan': ['build_path'],
  'preferences/set': ['key', 'value'],
  'auth/login': ['password'],
  unsubscribe: ['message_id'],
};

function wellFormedArgs(command: string, world: FuzzWorld): fc.Arbitrary<Record<string, unknown>> {
  const names = ARG_NAMES[command] ?? [];
  if (command === 'auth/login') {
    return fc.oneof(fc.record({ password: argValue('password', world) }), fc.record({ token: argValue('token', world) }));
  }
  return fc.record(Object.fromEntries(names.map((name) => [name, argValue(name, world)])), {
    requiredKeys: names.filter((name) => name !== 'port'),
  });
}

const ARG_KEYS = ['configuration', 'configurations', 'port', 'job_id', 'build_path', 'key', 'value', 'password', 'token', 'message_id', 'all', ''];

function mutatedArgs(command: string, world: FuzzWorld): fc.Arbitrary<unknown> {
  const base = wellFormedArgs(command, world);
  return fc.oneof(
    // An unknown key beside the right ones.
    fc.tuple(base, fc.constantFrom(...ARG_KEYS, '__proto__', 'constructor', 'extra'), weirdValue(world)).map(([args, key, value]) => {
      const out: Record<string, unknown> = { ...args };
      Object.defineProperty(out, key, { value, enumerable: true, configurable: true, writable: true });
      return out;
    }),
    // A value of the wrong type.
    fc.tuple(base, weirdValue(world)).map(([args, value]) => {
      const keys = Object.keys(args);
      if (keys.length === 0) return { configuration: value };
      return { ...args, [keys[0] as string]: value };
    }),
    // A key dropped.
    base.map((args) => Object.fromEntries(Object.entries(args).slice(1))),
    // Random keys and values.
    fc.dictionary(fc.oneof(fc.constantFrom(...ARG_KEYS), fc.string({ maxLength: 10 })), weirdValue(world), { maxKeys: 5 }),
    protoObject(),
    // Not an object at all.
    fc.oneof(fc.constant(null), fc.array(weirdValue(world), { maxLength: 3 }), weirdString(world), fc.constantFrom(...EDGE_NUMBERS)),
  );
}

function messageIdArb(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.nat({ max: 1_000_000 }).map((n) => `f${n}`) },
    { weight: 3, arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }) },
    { weight: 1, arbitrary: fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, '', 'x'.repeat(100), '\0', '😀', '__proto__') },
  );
}

function badMessageIdArb(world: FuzzWorld): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(
      1.5,
      2 ** 53,
      -(2 ** 53),
      raw('1e999'),
      raw('9007199254740993'),
      raw('1e-400'),
      'x'.repeat(101),
      'y'.repeat(5000),
      null,
      true,
      false,
      [],
      [1],
      {},
      { id: 1 },
    ),
    fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'string' && !(typeof v === 'number' && Number.isSafeInteger(v))),
    weirdValue(world).filter((v) => typeof v === 'object' && v !== null),
  );
}

// ---------------------------------------------------------------------------
// Frame arbitraries

function envelopeText(command: unknown, messageId: unknown, args: unknown, extra: Record<string, unknown> = {}): string {
  const frame: Record<string, unknown> = { ...extra, command, message_id: messageId };
  if (args !== undefined) frame['args'] = args;
  return toJsonText(frame);
}

function validEnvelope(world: FuzzWorld): fc.Arbitrary<FuzzFrame> {
  return fc.tuple(fc.constantFrom(...KNOWN_COMMANDS), messageIdArb(), fc.nat({ max: 99 })).chain(([command, id, roll]) => {
    const args: fc.Arbitrary<unknown> = roll < 45 ? wellFormedArgs(command, world) : roll < 55 ? fc.constant(undefined) : mutatedArgs(command, world);
    return args.map((a): FuzzFrame => ({ kind: 'text', label: `command ${command}`, text: envelopeText(command, id, a) }));
  });
}

function unknownCommand(world: FuzzWorld): fc.Arbitrary<FuzzFrame> {
  const name = fc
    .oneof(
      fc.constantFrom(
        'devices/explode',
        'DEVICES/LIST',
        'devices/list ',
        ' devices/list',
        'devices//list',
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
        'x'.repeat(100),
        'auth/LOGIN',
      ),
      fc.string({ minLength: 1, maxLength: 30 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
    )
    .filter((name) => !KNOWN_COMMANDS.includes(name));
  return fc
    .tuple(
      name,
      messageIdArb(),
      fc.option(
        weirdValue(world).filter((v) => typeof v === 'object' && v !== null && !Array.isArray(v)),
        { nil: undefined },
      ),
    )
    .map(([command, id, args]) => ({ kind: 'text', label: 'unknown command', text: envelopeText(command, id, args) }));
}

function brokenEnvelope(world: FuzzWorld): fc.Arbitrary<FuzzFrame> {
  const command = fc.constantFrom(...KNOWN_COMMANDS);
  return fc
    .oneof(
      // Wrong command type, or empty, or too long.
      fc
        .tuple(
          fc.oneof(
            weirdValue(world).filter((v) => typeof v !== 'string'),
            fc.constantFrom('', 'c'.repeat(101)),
          ),
          messageIdArb(),
        )
        .map(([c, id]) => envelopeText(c, id, undefined)),
      // Unreadable message_id.
      fc.tuple(command, badMessageIdArb(world)).map(([c, id]) => envelopeText(c, id, undefined)),
      // Missing fields.
      fc.tuple(command, messageIdArb()).chain(([c, id]) => fc.constantFrom(toJsonText({ command: c }), toJsonText({ message_id: id }), '{}')),
      // args not an object.
      fc
        .tuple(
          command,
          messageIdArb(),
          fc.oneof(fc.constant(null), fc.array(weirdValue(world), { maxLength: 3 }), weirdString(world), fc.constantFrom(...EDGE_NUMBERS), fc.boolean()),
        )
        .map(([c, id, a]) => envelopeText(c, id, a)),
      // Not an object at the top.
      fc
        .oneof(
          fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
          fc.constant([{ command: 'devices/list', message_id: 1 }]),
        )
        .map((v) => toJsonText(v)),
      // Prototype keys at the top (as JSON.parse makes own properties).
      fc
        .tuple(command, messageIdArb())
        .map(
          ([c, id]) =>
            `{"__proto__": {"command": ${JSON.stringify(c)}, "message_id": ${toJsonText(id)}, "polluted": true}, "constructor": {"prototype": {"polluted": true}}}`,
        ),
      // Duplicate keys: JSON.parse keeps the last.
      fc
        .tuple(command, messageIdArb())
        .map(([c, id]) => `{"command": 5, "command": ${JSON.stringify(c)}, "message_id": ${toJsonText(id)}, "message_id": null}`),
    )
    .map((text) => ({ kind: 'text', label: 'broken envelope', text }));
}

function garbageText(): fc.Arbitrary<FuzzFrame> {
  const valid = '{"command": "devices/list", "message_id": "g1", "args": {}}';
  return fc
    .oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.nat({ max: valid.length - 1 }).map((n) => valid.slice(0, n)),
      fc.constantFrom(
        '',
        ' ',
        '\n',
        'null',
        'undefined',
        'NaN',
        '{',
        '}',
        '{"command":',
        `\uFEFF${valid}`,
        `${valid}x`,
        `${valid}${valid}`,
        "{'command': 'devices/list', 'message_id': 1}",
        '{"command": "devices/list", "message_id": 1,}',
        '\0',
        valid.replace('{', '{\0'),
      ),
      fc.jsonValue().map((v) => JSON.stringify(v)),
    )
    .map((text) => ({ kind: 'text', label: 'garbage text', text }));
}

/** JSON nested far beyond any real argument, in each place it can be. */
function deepJson(): fc.Arbitrary<FuzzFrame> {
  return fc
    .tuple(
      fc.constantFrom(MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH + 1, 100, 1000, 5000, 20_000, 30_000),
      fc.constantFrom('array', 'object'),
      fc.constantFrom('value', 'args', 'top', 'message_id', 'configuration'),
      messageIdArb(),
    )
    .map(([depth, shape, where, id]) => {
      const nested = shape === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const idText = toJsonText(id);
      const text =
        where === 'value'
          ? `{"command": "preferences/set", "message_id": ${idText}, "args": {"key": "deep", "value": ${nested}}}`
          : where === 'args'
            ? `{"command": "devices/list", "message_id": ${idText}, "args": {"x": ${nested}}}`
            : where === 'configuration'
              ? `{"command": "firmware/compile", "message_id": ${idText}, "args": {"configuration": ${nested}}}`
              : where === 'message_id'
                ? `{"command": "devices/list", "message_id": ${nested}}`
                : nested;
      return { kind: 'text', label: `deep JSON ${depth} (${where})`, text };
    });
}

function hugeFrames(world: FuzzWorld): fc.Arbitrary<FuzzFrame> {
  return fc
    .tuple(hugeString, fc.constantFrom('configuration', 'value', 'message_id', 'command', 'extra', 'password'), messageIdArb())
    .map(([big, where, id]) => {
      const text =
        where === 'configuration'
          ? envelopeText('firmware/compile', id, { configuration: big })
          : where === 'value'
            ? envelopeText('preferences/set', id, { key: 'huge', value: big })
            : where === 'message_id'
              ? envelopeText('devices/list', big, undefined)
              : where === 'command'
                ? envelopeText(big, id, undefined)
                : where === 'password'
                  ? envelopeText('auth/login', id, { password: big })
                  : envelopeText('devices/list', id, { [world.devices[0] ?? 'x']: big });
      return { kind: 'text', label: `huge string (${where}, ${Buffer.byteLength(text)} bytes)`, text };
    });
}

/** Frames of exactly MAX_FRAME_BYTES and one byte more. */
function boundaryFrames(): fc.Arbitrary<FuzzFrame> {
  return fc.tuple(fc.constantFrom(-1, 0, 1), messageIdArb()).map(([delta, id]) => {
    const target = MAX_FRAME_BYTES + delta;
    const shell = envelopeText('preferences/set', id, { key: 'edge', value: '' });
    const pad = Math.max(0, target - Buffer.byteLength(shell));
    const text = envelopeText('preferences/set', id, { key: 'edge', value: 'p'.repeat(pad) });
    return { kind: 'text', label: `boundary frame ${Buffer.byteLength(text)} bytes`, text };
  });
}

function binaryFrames(): fc.Arbitrary<FuzzFrame> {
  return fc
    .oneof(
      fc.uint8Array({ maxLength: 2048 }),
      fc.constant(new TextEncoder().encode('{"command": "devices/list", "message_id": "b1"}')),
      fc.constant(new Uint8Array(0)),
      fc.constant(new Uint8Array(70_000)),
    )
    .map((bytes) => ({ kind: 'binary', label: `binary ${bytes.length} bytes`, bytes }));
}

function killerFrames(): fc.Arbitrary<FuzzFrame> {
  return fc.oneof(
    fc.tuple(fc.integer({ min: WS_MAX_PAYLOAD + 1, max: WS_MAX_PAYLOAD + 200_000 }), fc.boolean()).map(([bytes, binary]): FuzzFrame => {
      const data = Buffer.from(envelopeText('devices/list', 'k', { pad: 'k'.repeat(bytes) }));
      return { kind: 'killer', label: `${binary ? 'binary' : 'text'} frame of ${data.length} bytes (over maxPayload)`, data, binary, closeCode: 1009 };
    }),
    fc
      .constantFrom(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]))
      .map((data): FuzzFrame => ({ kind: 'killer', label: 'text frame that is not UTF-8', data, binary: false, closeCode: 1007 })),
  );
}

/** Every kind of frame, weighted towards well-formed envelopes (the paths that do real work). */
export function frameArbitrary(world: FuzzWorld): fc.Arbitrary<FuzzFrame> {
  return fc.oneof(
    { weight: 55, arbitrary: validEnvelope(world) },
    { weight: 5, arbitrary: unknownCommand(world) },
    { weight: 14, arbitrary: brokenEnvelope(world) },
    { weight: 8, arbitrary: garbageText() },
    { weight: 4, arbitrary: deepJson() },
    { weight: 4, arbitrary: hugeFrames(world) },
    { weight: 2, arbitrary: boundaryFrames() },
    { weight: 6, arbitrary: binaryFrames() },
    { weight: 1, arbitrary: killerFrames() },
  );
}

/**
 * Draws a few hundred frames and drops them. fast-check builds its code-point
 * tables for the full-unicode string arbitraries lazily and keeps them (about
 * 60 MB of heap, measured with a heap snapshot): a memory baseline taken
 * before that would charge the test's own tables to the server.
 */
export function warmUpArbitraries(world: FuzzWorld): void {
  fc.sample(frameArbitrary(world), { seed: 1, numRuns: 300 });
}

// ---------------------------------------------------------------------------
// The oracle

export interface Expectation {
  id: MessageId | null;
  /** The command of a well-formed envelope, for per-command tallies. */
  command?: string;
  /** Exactly this error code, or any reply but internal_error when undefined. */
  code?: string;
}

function readableId(value: unknown): MessageId | null {
  if (typeof value !== 'object' || value === null) return null;
  const id = (value as Record<string, unknown>)['message_id'];
  return typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)) ? id : null;
}

function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) max = d;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/**
 * The reply a text frame must get, worked out independently of the server's
 * code. `locked`: the server has a password and this socket has not logged in.
 */
export function expectFor(text: string, locked = false): Expectation {
  if (Buffer.byteLength(text) > MAX_FRAME_BYTES) return { id: null, code: 'invalid_message' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { id: null, code: 'invalid_message' };
  }
  const id = readableId(parsed);
  if (depthOf(parsed) > MAX_JSON_DEPTH) return { id, code: 'invalid_message' };
  const frame = parsed as Record<string, unknown>;
  const command = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? frame['command'] : undefined;
  const messageId = typeof parsed === 'object' && parsed !== null ? frame['message_id'] : undefined;
  const args = typeof parsed === 'object' && parsed !== null ? frame['args'] : undefined;
  const envelopeOk =
    typeof command === 'string' &&
    command.length >= 1 &&
    command.length <= 100 &&
    ((typeof messageId === 'string' && messageId.length <= 100) || (typeof messageId === 'number' && Number.isSafeInteger(messageId))) &&
    (args === undefined || (typeof args === 'object' && args !== null && !Array.isArray(args)));
  if (!envelopeOk) return { id, code: 'invalid_message' };
  if (locked && command !== 'auth/login') return { id, code: 'not_authenticated' };
  if (!KNOWN_COMMANDS.includes(command)) return { id, code: 'unknown_command' };
  return { id, command };
}

// ---------------------------------------------------------------------------
// The client side

export interface Reply {
  message_id: MessageId | null;
  result?: unknown;
  error_code?: string;
  details?: string;
}

/** A lean client: counts events, queues replies, keeps nothing else (so it does not skew memory figures). */
export class FuzzSocket {
  readonly replies: Reply[] = [];
  events = 0;
  closeCode: number | null = null;
  info: Record<string, unknown> | null = null;
  private notify: (() => void) | null = null;
  /** Ids of opened streams and started jobs, for placeholders. */
  readonly jobIds: string[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if ('server_version' in frame) this.info = frame;
      else if ('event' in frame) {
        this.events++;
        const jobId = (frame['data'] as { job_id?: unknown } | null)?.job_id;
        if (frame['event'] === 'job_queued' && typeof jobId === 'string') this.rememberJob(jobId);
      } else {
        const reply = frame as unknown as Reply;
        const jobId = (reply.result as { job_id?: unknown } | null)?.job_id;
        if (typeof jobId === 'string') this.rememberJob(jobId);
        this.replies.push(reply);
      }
      this.wake();
    });
    socket.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async open(url: string): Promise<FuzzSocket> {
    const socket = new WebSocket(url);
    const client = new FuzzSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await client.until(() => client.info !== null, 5000);
    return client;
  }

  private rememberJob(id: string): void {
    if (this.jobIds.at(-1) !== id) this.jobIds.push(id);
    if (this.jobIds.length > 50) this.jobIds.shift();
  }

  private wake(): void {
    const notify = this.notify;
    this.notify = null;
    notify?.();
  }

  /** Resolves when `done()` holds; rejects after `timeoutMs` or when the socket closes first. */
  async until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      if (this.closeCode !== null) throw new Error(`socket closed (${this.closeCode}) while waiting`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error('timed out');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async call(command: string, args?: Record<string, unknown>, timeoutMs = 20_000): Promise<Reply> {
    const id = `call-${Math.random().toString(36).slice(2)}`;
    this.socket.send(JSON.stringify({ command, message_id: id, ...(args ? { args } : {}) }));
    let found: Reply | undefined;
    await this.until(() => (found = this.replies.find((r) => r.message_id === id)) !== undefined, timeoutMs);
    this.replies.splice(this.replies.indexOf(found as Reply), 1);
    return found as Reply;
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

/** Sends one frame the WebSocket layer refuses, on its own socket, and returns the close code. */
async function sendKiller(url: string, frame: FuzzFrame & { kind: 'killer' }): Promise<number> {
  const client = await FuzzSocket.open(url);
  client.socket.send(frame.data, { binary: frame.binary });
  await client.until(() => client.closeCode !== null, 10_000).catch(() => undefined);
  if (client.closeCode === null) {
    client.socket.terminate();
    throw new Error(`the server did not close the socket after a ${frame.label}`);
  }
  return client.closeCode;
}

// ---------------------------------------------------------------------------
// The driver

export interface FuzzOptions {
  url: string;
  world: FuzzWorld;
  frames: number;
  seed: number;
  /** The server has a password (which the fuzzer does not know): everything but auth/login answers not_authenticated. */
  locked?: boolean;
  /** Called every `every` frames with the count so far (for progress and memory samples). */
  onProgress?: (sent: number) => void;
}

export interface FuzzReport {
  seed: number;
  frames: number;
  bursts: number;
  /** Frames sent on the fuzzing socket (all but the killers). */
  socketFrames: number;
  killers: number;
  killerCloseCodes: Record<string, number>;
  replies: number;
  events: number;
  byReply: Record<string, number>;
  byLabel: Record<string, number>;
  /** Replies per well-formed command: how deep the fuzzer got (results vs refusals). */
  byCommand: Record<string, Record<string, number>>;
  ms: number;
  memory: {
    /** After GC, once the first {@link WARMUP_SHARE} of the frames went through (JIT, pools, caches warm). */
    warm: MemorySample | null;
    /** After GC, at the end. */
    end: MemorySample | null;
    /** Highest RSS sampled after every burst. */
    peakRss: number;
  };
}

const WARMUP_SHARE = 0.1;

function preview(frame: FuzzFrame): string {
  const body = frame.kind === 'text' ? frame.text : frame.kind === 'binary' ? `<${frame.bytes.length} bytes>` : `<${frame.data.length} bytes>`;
  return `${frame.label}: ${JSON.stringify(body.length > 300 ? `${body.slice(0, 300)}…(${body.length})` : body)}`;
}

function substitute(text: string, client: FuzzSocket, openStreams: MessageId[], pick: number): string {
  if (!text.includes('\\u0001')) return text;
  const job = client.jobIds.length > 0 ? (client.jobIds[pick % client.jobIds.length] as string) : 'no-job-yet';
  const stream = openStreams.length > 0 ? openStreams[pick % openStreams.length] : 'no-stream-yet';
  return text.replaceAll(JSON.stringify(JOB_ID_PLACEHOLDER), JSON.stringify(job)).replaceAll(JSON.stringify(STREAM_ID_PLACEHOLDER), JSON.stringify(stream));
}

function replyKey(reply: Reply): string {
  return reply.error_code ?? 'result';
}

/**
 * Sends `frames` fuzzed frames (deterministic for a seed) and checks the
 * reply contract; throws with the seed and the offending frame on the first
 * violation.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { url, world, seed } = options;
  const arbitrary = frameArbitrary(world);
  const burstSizes = fc.sample(fc.integer({ min: 1, max: 8 }), { seed, numRuns: options.frames });
  const client = await FuzzSocket.open(url);
  const report: FuzzReport = {
    seed,
    frames: 0,
    bursts: 0,
    socketFrames: 0,
    killers: 0,
    killerCloseCodes: {},
    replies: 0,
    events: 0,
    byReply: {},
    byLabel: {},
    byCommand: {},
    ms: 0,
    memory: { warm: null, end: null, peakRss: 0 },
  };
  const warmAt = Math.max(50, Math.floor(options.frames * WARMUP_SHARE));
  const started = performance.now();
  const openStreams: MessageId[] = [];
  const fail = (message: string, frame?: FuzzFrame): never => {
    throw new Error(`api fuzz (seed ${seed}): ${message}${frame ? `\n  frame: ${preview(frame)}` : ''}`);
  };

  let index = 0;
  let burstIndex = 0;
  while (index < options.frames) {
    // Generated burst by burst (deterministic per seed), so a 10,000-frame run never holds its frames in memory.
    const size = Math.min(burstSizes[burstIndex] as number, options.frames - index);
    const burst = fc.sample(arbitrary, { seed: seed + 7919 * (burstIndex + 1), numRuns: size });
    burstIndex++;
    index += burst.length;
    report.frames += burst.length;
    report.bursts++;
    const expected: { frame: FuzzFrame; expectation: Expectation }[] = [];
    for (const frame of burst) {
      const label = frame.label.replace(/ \d+ bytes\)?| \(.*\)$|\d+ bytes/g, '').trim();
      report.byLabel[label] = (report.byLabel[label] ?? 0) + 1;
      if (frame.kind === 'killer') {
        report.killers++;
        const code = await sendKiller(url, frame);
        if (code !== frame.closeCode) fail(`expected close code ${frame.closeCode}, got ${code}`, frame);
        report.killerCloseCodes[code] = (report.killerCloseCodes[code] ?? 0) + 1;
        continue;
      }
      if (frame.kind === 'binary') {
        client.socket.send(frame.bytes, { binary: true });
        expected.push({ frame, expectation: { id: null, code: 'invalid_message' } });
      } else {
        const text = substitute(frame.text, client, openStreams, index + expected.length);
        client.socket.send(text);
        const expectation = expectFor(text, options.locked ?? false);
        expected.push({ frame: { ...frame, text }, expectation });
        if (expectation.id !== null && (text.includes('"subscribe_events"') || text.includes('"firmware/follow_job"'))) {
          openStreams.push(expectation.id);
          if (openStreams.length > 20) openStreams.shift();
        }
      }
      report.socketFrames++;
    }
    const first = report.replies;
    try {
      await client.until(() => client.replies.length >= expected.length, 15_000);
    } catch (err) {
      fail(`${(err as Error).message}: ${client.replies.length}/${expected.length} replies for a burst`, expected.find(() => true)?.frame);
    }
    const got = client.replies.splice(0);
    report.replies += got.length;
    if (got.length !== expected.length) fail(`${got.length} replies for a burst of ${expected.length} frames (${first} so far)`);
    // Match replies to frames by message_id (a multiset: fuzzed ids may repeat).
    const remaining = [...expected];
    for (const reply of got) {
      // Fuzzed ids may repeat within a burst: prefer the frame whose expected code this reply has.
      const sameId = remaining.filter(({ expectation }) => expectation.id === reply.message_id);
      const chosen =
        sameId.find(({ expectation }) => expectation.code !== undefined && expectation.code === reply.error_code) ??
        sameId.find(({ expectation }) => expectation.code === undefined) ??
        sameId[0];
      const at = chosen ? remaining.indexOf(chosen) : -1;
      if (at < 0)
        fail(`a reply nobody asked for: ${JSON.stringify(reply).slice(0, 300)}; expected ids ${JSON.stringify(expected.map((e) => e.expectation.id))}`);
      const [{ frame, expectation }] = remaining.splice(at, 1) as [{ frame: FuzzFrame; expectation: Expectation }];
      const key = replyKey(reply);
      report.byReply[key] = (report.byReply[key] ?? 0) + 1;
      if (expectation.command !== undefined) {
        const tally = (report.byCommand[expectation.command] ??= {});
        tally[key] = (tally[key] ?? 0) + 1;
      }
      if (reply.error_code !== undefined && !(ERROR_CODES as readonly string[]).includes(reply.error_code))
        fail(`unknown error code ${reply.error_code}`, frame);
      if (reply.error_code !== undefined && typeof reply.details !== 'string') fail('an error reply without details', frame);
      if (reply.error_code === undefined && !('result' in reply)) fail(`a reply with neither result nor error_code: ${JSON.stringify(reply)}`, frame);
      if (reply.error_code === 'internal_error') fail(`internal_error: ${reply.details}`, frame);
      if (expectation.code !== undefined && reply.error_code !== expectation.code) {
        fail(`expected ${expectation.code}, got ${key} (${reply.details ?? ''})`, frame);
      }
    }
    report.memory.peakRss = Math.max(report.memory.peakRss, process.memoryUsage.rss());
    if (report.memory.warm === null && index >= warmAt) {
      collectGarbage();
      report.memory.warm = memorySample();
    }
    if (options.onProgress) options.onProgress(index);
  }
  // Anything late or doubled would arrive now.
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (client.replies.length > 0) fail(`${client.replies.length} replies arrived after their burst was answered: ${JSON.stringify(client.replies.slice(0, 3))}`);
  if (client.closeCode !== null) fail(`the fuzzing socket was closed (${client.closeCode})`);
  report.events = client.events;
  report.ms = performance.now() - started;
  await client.close();
  collectGarbage();
  report.memory.end = memorySample();
  return report;
}

// ---------------------------------------------------------------------------
// The world on disk, and what must not change around it

/** Relative path → sha1 of content + mode + mtime of every entry under `dir` (links not followed). */
export function checksumTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const { full, entry } of listTreeNoFollow(dir)) {
    const stat = fs.lstatSync(full);
    const content = entry.isFile()
      ? createHash('sha1').update(fs.readFileSync(full)).digest('hex')
      : entry.isSymbolicLink()
        ? `-> ${fs.readlinkSync(full)}`
        : 'dir';
    out.set(path.relative(dir, full), `${content} ${stat.mode} ${stat.mtimeMs}`);
  }
  return out;
}

/** A tree beside the config dir that looks worth deleting: a build folder, YAMLs, a symlink back in. */
export function writeSentinel(sentinelDir: string, configDir: string): void {
  const files: [string, string][] = [
    ['important.txt', 'do not touch'],
    ['kitchen.yaml', 'esphome:\n  name: kitchen\n'],
    ['secrets.yaml', 'wifi_password: hunter2\n'],
    ['build/bait/build_info.json', '{"config_hash": 1}'],
    ['build/bait/.pioenvs/bait/firmware.bin', 'firmware'],
    ['.esphome/storage/kitchen.yaml.json', '{"storage_version": 1, "build_path": "/"}'],
  ];
  for (const [name, content] of files) {
    const full = path.join(sentinelDir, name);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, content);
  }
  fs.symlinkSync(configDir, path.join(sentinelDir, 'link-to-config'));
}

/** An esphome stand-in that costs a shell, not a node start: the fuzzer is about the API, not the jobs. */
export const STUB_ESPHOME = ['/bin/sh', '-c', 'if [ "$1" = version ]; then echo "Version: 2026.11.0"; else echo "INFO stub esphome $*"; fi', 'esphome'];

/** A throwaway config dir of `devices` small compiled devices, an unused build folder, and a sentinel tree beside it. */
export function fuzzWorld(devices = 8): FuzzWorld {
  const parent = makeTempDir('dbts-fuzz-');
  const configDir = path.join(parent, 'config');
  const sentinelDir = path.join(parent, 'sentinel');
  fs.mkdirSync(configDir);
  const names: string[] = [];
  for (let i = 0; i < devices; i++) names.push(addDevice(configDir, i === 0 ? 'kitchen' : `dev${i}`, { files: 2 }).configuration);
  writeFile(path.join(configDir, 'secrets.yaml'), 'wifi_password: fuzz\n');
  // An unused build folder, so builds/delete_orphan has something it may delete.
  const orphanDir = path.join(configDir, '.esphome', 'build', 'old-device');
  writeFile(path.join(orphanDir, 'build_info.json'), '{}');
  writeSentinel(sentinelDir, configDir);
  return { configDir, sentinelDir, devices: names, orphanDir };
}

// ---------------------------------------------------------------------------
// Memory

let gcFn: (() => void) | null | undefined;

/** A full GC when one can be had (vitest workers run without --expose-gc; V8 flags can still be set at run time). */
export function collectGarbage(): boolean {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  if (!gcFn) return false;
  gcFn();
  gcFn();
  return true;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}

export function memorySample(): MemorySample {
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external };
}

export const MB = 1024 * 1024;
export const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
