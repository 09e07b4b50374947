/**
 * Reads the handful of fields the dashboard needs out of one ESPHome YAML,
 * resolving them the way ESPHome does wherever that is possible offline.
 *
 * ESPHome YAML is not plain YAML: it leans on custom tags (`!secret`,
 * `!include`, `!lambda`, ...). Every known tag parses to an opaque
 * {@link TaggedValue} (unknown tags fall back to the `yaml` library's plain
 * resolution: a warning, never an error). On top of that, with file access
 * ({@link loadDeviceYaml}), this follows ESPHome's config loading for the
 * fields we read (`esphome:` name, friendly_name, comment, area, build_path;
 * the platform key; `use_address`):
 *
 * - `!include file.yaml` and `!include {file, vars}`, relative to the
 *   including file; `vars` (and the included file's `defaults:`) substitute
 *   into the included content at once, as ESPHome's loader does;
 * - local `packages:` (dict or list form; include, include-with-vars or an
 *   inline dict), merged under the main file like ESPHome's packages pass
 *   (the main file wins, a later package wins over an earlier one);
 * - YAML merge keys (`<<: *base`, `<<: [*a, *b]`, `<<: !include x.yaml`);
 * - `substitutions:` (`${var}` / `$var`), main file over packages.
 *
 * What cannot be known offline (a remote package, `!secret`, a missing or
 * refused include, a substitution that stays undefined) is reported in
 * {@link ParsedDeviceYaml.unresolved} instead of as literal `${...}` text.
 *
 * Safety: includes are read only inside the config dir (lexically and after
 * resolving symlinks), bounded in depth, count and bytes per device; alias
 * expansion is capped against "billion laughs"; files over
 * {@link MAX_YAML_BYTES} and text nesting deeper than the parser's stack can
 * take (util/yaml-depth.ts) are refused before parsing; substitution
 * expansion is capped per value and per device, and stops at the first value
 * past the cap (a "substitution bomb" costs microseconds, not gigabytes).
 */
import { lstatSync, promises as fsp, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { CollectionTag, ScalarTag } from 'yaml';
import { yamlLib } from '../util/yaml-lib.js';
import { readGuarded, readGuardedSync, type GuardedRead } from '../util/guarded-read.js';
import { MAX_YAML_NESTING, yamlNestingExceeds } from '../util/yaml-depth.js';

/**
 * ESPHome config files are a few KB (big display configs ~150 KB); anything
 * this big is not a config. Parsing runs on the server's event loop, so the
 * cap is what bounds the stall: the worst plain shape at this size parses in
 * about 0.3 s (a 4 MB one blocked the loop 3.2 s).
 */
export const MAX_YAML_BYTES = 512 * 1024;
/** Includes nested deeper than this (packages count as a level) stay unresolved. */
export const MAX_INCLUDE_DEPTH = 8;
/** Files read for one device, the main YAML included. */
export const MAX_FILES_PER_DEVICE = 64;
/** Bytes read for one device, the main YAML included. */
export const MAX_BYTES_PER_DEVICE = 2 * 1024 * 1024;
/** Longest value a substitution may expand to. */
export const MAX_EXPANDED_VALUE = 64 * 1024;
/** Total text substitution may produce for one device. */
export const MAX_EXPANDED_TOTAL = 1024 * 1024;

/** Top-level keys that name the target platform, as ESPHome spells them. */
export const PLATFORM_KEYS = ['esp32', 'esp8266', 'rp2040', 'bk72xx', 'rtl87xx', 'ln882x', 'nrf52', 'host'] as const;

/** An ESPHome tag we parse but do not (or cannot) resolve as a plain value. */
export class TaggedValue {
  constructor(
    readonly tag: string,
    readonly value: string,
    /** Folder of the file the tag was written in (for `!include`), or null without file access. */
    readonly baseDir: string | null = null,
    /** `!include` vars to apply to the included content, innermost first. */
    readonly scopes: readonly ReadonlyMap<string, string>[] = [],
  ) {}
  toString(): string {
    return `${this.tag} ${this.value}`;
  }
}

const ESPHOME_TAGS = [
  '!secret',
  '!lambda',
  '!include',
  '!include_dir_list',
  '!include_dir_named',
  '!include_dir_merge_list',
  '!include_dir_merge_named',
  '!extend',
  '!remove',
  '!env_var',
  '!input',
];

/** What one YAML says about its device; null where the file does not say (or cannot be resolved). */
export interface DeviceYaml {
  name: string | null;
  friendlyName: string | null;
  comment: string | null;
  area: string | null;
  platform: string | null;
  /** `esphome.build_path`, relative to the data dir when not absolute. */
  buildPathOption: string | null;
  /** `wifi.use_address` / `ethernet.use_address` / `openthread.use_address`. */
  useAddress: string | null;
}

/** Fields that may be set in a way only ESPHome itself can resolve. */
export type ResolvableField = 'name' | 'friendlyName' | 'comment' | 'area';

export interface ParsedDeviceYaml {
  device: DeviceYaml;
  /** Why the file could not be read, or null when it parsed. */
  error: string | null;
  /**
   * Fields the config sets (or may set, through a package or include we
   * could not read) but whose value cannot be known offline; their
   * `device` value is null. Absent means none.
   */
  unresolved?: readonly ResolvableField[];
}

/** One file a resolution looked at; `mtimeMs`/`size` are -1 when it did not exist. */
export interface FileStamp {
  path: string;
  mtimeMs: number;
  size: number;
  /** Whether the stamp is of the target (stat) or of the link itself (lstat). */
  follow: boolean;
}

export interface LoadedDeviceYaml extends ParsedDeviceYaml {
  /** Every file looked at, the main YAML first: the cache key. */
  files: FileStamp[];
}

/** A device the YAML says nothing about. */
export const EMPTY_DEVICE_YAML: Readonly<DeviceYaml> = {
  name: null,
  friendlyName: null,
  comment: null,
  area: null,
  platform: null,
  buildPathOption: null,
  useAddress: null,
};

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof TaggedValue);
}

/** Scalars we can show: strings, and numbers/bools as ESPHome would stringify them. */
function scalarText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

/** Raised when substitution output passes a cap; the whole resolution stops. */
class ExpansionLimitError extends Error {}

/** ESPHome's VARIABLE_PROG: `$name` or `${name}` over [A-Za-z0-9_]. */
const VARIABLE = /\$([A-Za-z0-9_]+|\{[A-Za-z0-9_]*\})/g;

interface Expanded {
  text: string;
  /** Whether a reference stayed unexpanded (undefined, cyclic, or a value we cannot know). */
  unresolved: boolean;
}

/** Counts every expanded byte of one resolution against {@link MAX_EXPANDED_TOTAL}. */
class ExpansionBudget {
  total = 0;
  charge(length: number): void {
    this.total += length;
    if (this.total > MAX_EXPANDED_TOTAL) {
      throw new ExpansionLimitError(`substitutions expand past ${MAX_EXPANDED_TOTAL / 1024 / 1024} MiB in total`);
    }
  }
}

/**
 * Expands `${var}` / `$var` in one text, as ESPHome's `_expand_substitutions`
 * does: unknown names stay as written, inserted text is not scanned again.
 * `lookup` returns undefined for an unknown name.
 */
function expandText(text: string, lookup: (name: string) => Expanded | undefined, budget: ExpansionBudget): Expanded {
  if (!text.includes('$')) return { text, unresolved: false };
  let out = '';
  let last = 0;
  let unresolved = false;
  let leftover = '';
  for (const match of text.matchAll(VARIABLE)) {
    const token = match[1] as string;
    const braced = token.startsWith('{');
    const name = braced ? token.slice(1, -1) : token;
    const value = name === '' ? undefined : lookup(name);
    if (value === undefined) {
      // A key may not start with a digit, so `$5` is plain text, never a variable.
      if (braced || /^[A-Za-z_]/.test(name)) unresolved = true;
      continue;
    }
    unresolved ||= value.unresolved;
    const before = text.slice(last, match.index);
    if (out.length + before.length + value.text.length > MAX_EXPANDED_VALUE) {
      throw new ExpansionLimitError(`a substitution expands past ${MAX_EXPANDED_VALUE / 1024} KiB`);
    }
    leftover += before;
    out += before + value.text;
    last = match.index + match[0].length;
  }
  const tail = text.slice(last);
  if (out.length + tail.length > MAX_EXPANDED_VALUE) {
    throw new ExpansionLimitError(`a substitution expands past ${MAX_EXPANDED_VALUE / 1024} KiB`);
  }
  out += tail;
  // `${ expr }` (Jinja in newer ESPHome) is not something we can evaluate.
  if ((leftover + tail).includes('${')) unresolved = true;
  budget.charge(out.length);
  return { text: out, unresolved };
}

/**
 * Expands `${var}` and `$var` from `vars` in one pass, as ESPHome does.
 * Unknown variables are left as written rather than erased.
 */
export function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return expandText(
    text,
    (name) => {
      const value = vars.get(name);
      return value === undefined ? undefined : { text: value, unresolved: false };
    },
    new ExpansionBudget(),
  ).text;
}

/**
 * The top-level substitutions, each expanded on first use (memoised, so a
 * chain costs its output once whatever the declaration order; a cycle stays
 * as written and counts as unresolved).
 */
class Substitutions {
  private readonly memo = new Map<string, Expanded>();
  private readonly active = new Set<string>();

  constructor(
    /** Raw values; null for a value we cannot know (e.g. `!secret`). */
    private readonly raw: ReadonlyMap<string, string | null>,
    private readonly budget: ExpansionBudget,
  ) {}

  private lookup = (name: string): Expanded | undefined => {
    if (!this.raw.has(name)) return undefined;
    const cached = this.memo.get(name);
    if (cached) return cached;
    const raw = this.raw.get(name) ?? null;
    if (raw === null || this.active.has(name)) return { text: `\${${name}}`, unresolved: true };
    this.active.add(name);
    try {
      const expanded = expandText(raw, this.lookup, this.budget);
      this.memo.set(name, expanded);
      return expanded;
    } finally {
      this.active.delete(name);
    }
  };

  expand(text: string): Expanded {
    return expandText(text, this.lookup, this.budget);
  }
}

/** Marks a value we could not resolve (a failed include, a remote package). */
const UNRESOLVED: unique symbol = Symbol('unresolved');

/** A file the resolver asks its driver to read (absolute, lexically inside the config dir). */
interface ReadRequest {
  file: string;
}
type ReadResult = { ok: true; text: string } | { ok: false };
type Step<T> = Generator<ReadRequest, T, ReadResult>;

function parseError(message: string): string {
  return message.split('\n')[0] as string;
}

/** Tags per including folder, reused: building them per parse costs more than the parse of a small file. */
const tagCache = new Map<string | null, (ScalarTag | CollectionTag)[]>();

function tagsFor(baseDir: string | null): (ScalarTag | CollectionTag)[] {
  let tags = tagCache.get(baseDir);
  if (tags === undefined) {
    if (tagCache.size >= 256) tagCache.clear();
    tags = makeTags(baseDir);
    tagCache.set(baseDir, tags);
  }
  return tags;
}

function makeTags(baseDir: string | null): (ScalarTag | CollectionTag)[] {
  const scalars: ScalarTag[] = ESPHOME_TAGS.map((tag) => ({
    tag,
    resolve: (source: string) => new TaggedValue(tag, source, baseDir),
  }));
  // `!include {file: x.yaml, vars: {...}}`: ESPHome's mapping form.
  const includeMap: CollectionTag = {
    tag: '!include',
    collection: 'map',
    resolve: (map) => {
      const fields = map.toJSON() as unknown;
      const file = isMapping(fields) ? fields['file'] : undefined;
      const varsField = isMapping(fields) ? fields['vars'] : undefined;
      const vars = new Map<string, string>();
      if (isMapping(varsField)) {
        for (const [key, value] of Object.entries(varsField)) {
          const text = scalarText(value);
          if (text !== null) vars.set(key, text);
        }
      }
      return new TaggedValue('!include', typeof file === 'string' ? file : '', baseDir, [vars]);
    },
  };
  return [...scalars, includeMap];
}

/** Parses YAML text to plain JS (tags as TaggedValue); an error message instead when it cannot. */
function parseYamlText(text: string, baseDir: string | null): { root: unknown } | { error: string } {
  if (text.length > MAX_YAML_BYTES) return { error: `file is too large to be an ESPHome config (${text.length} bytes)` };
  if (text.includes('\u0000')) return { error: 'file is binary, not YAML' };
  // Deep nesting overflows the parser's stack, which on Node 20 can corrupt
  // V8's regexp compiler and abort the process on the next parse.
  if (yamlNestingExceeds(text)) return { error: `YAML nests more than ${MAX_YAML_NESTING} levels deep` };
  try {
    const doc = yamlLib().parseDocument(text, { customTags: tagsFor(baseDir), uniqueKeys: false, prettyErrors: false });
    const first = doc.errors[0];
    if (first) return { error: `YAML error: ${parseError(first.message)}` };
    return { root: doc.toJS({ maxAliasCount: 1000 }) as unknown };
  } catch (err) {
    return { error: `YAML error: ${parseError((err as Error).message)}` };
  }
}

function isInside(dir: string, target: string): boolean {
  const relative = path.relative(dir, target);
  return relative !== '' && !relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative);
}

/** Top-level keys whose (merged) values we read. */
const READ_KEYS = ['esphome', 'substitutions', 'wifi', 'ethernet', 'openthread', ...PLATFORM_KEYS];

/** One device's resolution: budgets and what could not be resolved. */
class Resolver {
  files = 1;
  bytes: number;
  /** Some package or include could not be read: absent fields may be set there. */
  incomplete = false;
  readonly budget = new ExpansionBudget();

  constructor(
    /** Null: no file access (every include stays unresolved). */
    private readonly configDir: string | null,
    mainBytes: number,
  ) {
    this.bytes = mainBytes;
  }

  /** Reads and parses one `!include`, applying its vars; UNRESOLVED when it cannot. */
  *include(ref: TaggedValue, depth: number): Step<unknown> {
    if (this.configDir === null || ref.baseDir === null || ref.value === '' || depth >= MAX_INCLUDE_DEPTH) {
      return this.fail();
    }
    const target = path.resolve(ref.baseDir, ref.value);
    // An absolute path or `..` leading out of the config dir is never read.
    if (!isInside(this.configDir, target)) return this.fail();
    if (this.files >= MAX_FILES_PER_DEVICE) return this.fail();
    const read = yield { file: target };
    if (!read.ok) return this.fail();
    this.files++;
    this.bytes += read.text.length;
    if (this.bytes > MAX_BYTES_PER_DEVICE) return this.fail();
    const parsed = parseYamlText(read.text, path.dirname(target));
    if ('error' in parsed) return this.fail();
    let value = parsed.root;
    ref.scopes.forEach((scope, index) => {
      let vars = scope;
      // The included file's `defaults:` fill in vars the include does not give.
      if (index === 0 && isMapping(value) && isMapping(value['defaults'])) {
        const merged = new Map<string, string>();
        for (const [key, def] of Object.entries(value['defaults'])) {
          const text = scalarText(def);
          if (text !== null) merged.set(key, text);
        }
        for (const [key, text] of scope) merged.set(key, text);
        vars = merged;
        const { defaults: _defaults, ...rest } = value;
        value = rest;
      }
      value = this.applyVars(value, vars);
    });
    return value;
  }

  private fail(): typeof UNRESOLVED {
    this.incomplete = true;
    return UNRESOLVED;
  }

  /**
   * ESPHome's `substitute_vars`: the include's vars go into every string of
   * the included content at once (unknown names stay for the top-level
   * pass), except its own `substitutions:` block. Includes nested inside
   * inherit the vars. Shared (aliased) subtrees are rewritten once.
   */
  private applyVars(value: unknown, vars: ReadonlyMap<string, string>): unknown {
    if (vars.size === 0) return value;
    const lookup = (name: string): Expanded | undefined => {
      const text = vars.get(name);
      return text === undefined ? undefined : { text, unresolved: false };
    };
    const seen = new Map<object, unknown>();
    const walk = (item: unknown, top: boolean): unknown => {
      if (typeof item === 'string') return expandText(item, lookup, this.budget).text;
      if (item instanceof TaggedValue) {
        return item.tag === '!include' ? new TaggedValue(item.tag, item.value, item.baseDir, [...item.scopes, vars]) : item;
      }
      if (typeof item !== 'object' || item === null) return item;
      const done = seen.get(item);
      if (done !== undefined) return done;
      let result: unknown;
      if (Array.isArray(item)) {
        const out: unknown[] = [];
        seen.set(item, out);
        for (const element of item) out.push(walk(element, false));
        result = out;
      } else {
        const out: Mapping = {};
        seen.set(item, out);
        for (const [key, child] of Object.entries(item as Mapping)) {
          out[key] = top && key === 'substitutions' ? child : walk(child, false);
        }
        result = out;
      }
      return result;
    };
    return walk(value, true);
  }

  /** A value with `!include` followed; other tags are left as they are. */
  *resolve(value: unknown, depth: number): Step<unknown> {
    if (value instanceof TaggedValue && value.tag === '!include') return yield* this.include(value, depth);
    return value;
  }

  /** A mapping value with `!include` followed and `<<` merge keys applied; null when not a mapping. */
  *mapping(value: unknown, depth: number): Step<Mapping | null> {
    const resolved = yield* this.resolve(value, depth);
    if (!isMapping(resolved)) return null;
    if (!Object.prototype.hasOwnProperty.call(resolved, '<<')) return resolved;
    const { '<<': sources, ...own } = resolved;
    const merged: Mapping = {};
    // Explicit keys win; in a list, an earlier source wins over a later one.
    for (const source of Array.isArray(sources) ? sources : [sources]) {
      const map = yield* this.mapping(source, depth);
      if (map === null) continue;
      for (const [key, child] of Object.entries(map)) if (!(key in merged)) merged[key] = child;
    }
    return { ...merged, ...own };
  }

  /**
   * The keys we read, from a config and its packages, merged like
   * ESPHome's packages pass: packages in reverse order, each merged under
   * what is already there (so the config itself wins, then later packages).
   */
  *collect(config: Mapping, depth: number): Step<Mapping> {
    let result: Mapping = {};
    for (const key of READ_KEYS) {
      if (!(key in config)) continue;
      const value = config[key];
      result[key] = isMapping(value) || value instanceof TaggedValue ? ((yield* this.mapping(value, depth)) ?? UNRESOLVED) : value;
    }
    if (!('packages' in config)) return result;
    const packages = yield* this.resolve(config['packages'], depth);
    let items: unknown[];
    if (isMapping(packages)) items = Object.values(packages);
    else if (Array.isArray(packages)) items = packages;
    else {
      if (packages !== null) this.incomplete = true;
      return result;
    }
    for (const item of [...items].reverse()) {
      // A string is a remote shorthand (github://...), a dict with url: a remote package.
      if (typeof item === 'string' || (isMapping(item) && 'url' in item)) {
        this.incomplete = true;
        continue;
      }
      if (depth + 1 >= MAX_INCLUDE_DEPTH) {
        this.incomplete = true;
        continue;
      }
      const content = yield* this.mapping(item, depth + 1);
      if (content === null) {
        this.incomplete = true;
        continue;
      }
      result = mergeConfig(yield* this.collect(content, depth + 1), result);
    }
    return result;
  }
}

/** ESPHome's merge_config for what we read: mappings merge key by key, anything else is replaced. */
function mergeConfig(base: Mapping, override: Mapping): Mapping {
  const out: Mapping = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const under = out[key];
    out[key] = isMapping(under) && isMapping(value) ? mergeConfig(under, value) : value;
  }
  return out;
}

/** One field: its text, or why there is none. */
type Field = { kind: 'absent' } | { kind: 'unresolved' } | { kind: 'text'; text: string };

function* resolveDevice(root: Mapping, resolver: Resolver): Step<ParsedDeviceYaml> {
  const merged = yield* resolver.collect(root, 0);
  const raw = new Map<string, string | null>();
  if (isMapping(merged['substitutions'])) {
    for (const [key, value] of Object.entries(merged['substitutions'])) {
      // ESPHome accepts a `$` in front of a key and drops it.
      const name = key.startsWith('$') ? key.slice(1) : key;
      raw.set(name, value instanceof TaggedValue ? null : scalarText(value));
    }
  }
  const subs = new Substitutions(raw, resolver.budget);

  function* field(block: unknown, key: string, depth: number): Step<Field> {
    if (block === UNRESOLVED) return { kind: 'unresolved' };
    if (!isMapping(block) || !(key in block)) return { kind: 'absent' };
    // A scalar include that fails leaves only this field unknown, not the others.
    const incomplete = resolver.incomplete;
    const value = yield* resolver.resolve(block[key], depth);
    resolver.incomplete = incomplete;
    if (value === UNRESOLVED || value instanceof TaggedValue) return { kind: 'unresolved' };
    const text = scalarText(value);
    if (text === null) return { kind: 'absent' };
    const expanded = subs.expand(text);
    return expanded.unresolved ? { kind: 'unresolved' } : { kind: 'text', text: expanded.text };
  }

  const esphome = merged['esphome'];
  const unresolved: ResolvableField[] = [];
  const shown = (name: ResolvableField, value: Field): string | null => {
    // With a package or include unread, a field we did not find may be set there.
    if (value.kind === 'unresolved' || (value.kind === 'absent' && resolver.incomplete)) unresolved.push(name);
    return value.kind === 'text' ? value.text : null;
  };
  const text = (value: Field): string | null => (value.kind === 'text' ? value.text : null);

  const name = shown('name', yield* field(esphome, 'name', 0));
  const friendlyName = shown('friendlyName', yield* field(esphome, 'friendly_name', 0));
  const comment = shown('comment', yield* field(esphome, 'comment', 0));
  // Newer ESPHome also accepts `area: {id, name}`.
  const areaBlock = isMapping(esphome) ? yield* resolver.mapping(esphome['area'], 0) : null;
  const area = shown('area', areaBlock !== null ? yield* field(areaBlock, 'name', 0) : yield* field(esphome, 'area', 0));
  const platform = PLATFORM_KEYS.find((key) => key in merged) ?? null;
  let useAddress: string | null = null;
  for (const net of ['wifi', 'ethernet', 'openthread']) {
    const block = merged[net];
    if (isMapping(block) && block['use_address'] !== undefined) {
      useAddress = text(yield* field(block, 'use_address', 0));
      break;
    }
  }
  return {
    device: {
      name,
      friendlyName,
      comment,
      area,
      platform,
      buildPathOption: text(yield* field(esphome, 'build_path', 0)),
      useAddress,
    },
    error: null,
    ...(unresolved.length > 0 ? { unresolved } : {}),
  };
}

function failed(error: string): ParsedDeviceYaml {
  return { device: { ...EMPTY_DEVICE_YAML }, error };
}

/** Parses the main file's text and resolves it; reads go through `read`. */
function* resolveText(text: string, configDir: string | null): Step<ParsedDeviceYaml> {
  const parsed = parseYamlText(text, configDir);
  if ('error' in parsed) return failed(parsed.error);
  const root = parsed.root;
  if (root === null || root === undefined) return failed('file is empty');
  if (!isMapping(root)) return failed('top level is not a mapping');
  const resolver = new Resolver(configDir, text.length);
  try {
    return yield* resolveDevice(root, resolver);
  } catch (err) {
    if (err instanceof ExpansionLimitError) return failed(err.message);
    throw err;
  }
}

/** Parses ESPHome YAML text without file access (every include stays unresolved); never throws. */
export function parseDeviceYaml(text: string): ParsedDeviceYaml {
  const steps = resolveText(text, null);
  let step = steps.next();
  while (!step.done) step = steps.next({ ok: false });
  return step.value;
}

const MISSING = -1;

function stamp(file: string, stats: Stats | null, follow: boolean): FileStamp {
  return { path: file, mtimeMs: stats?.mtimeMs ?? MISSING, size: stats?.size ?? MISSING, follow };
}

/** Reads one include for a resolution: only a regular file whose real path is inside the config dir. */
async function readIncludeAsync(realConfigDir: string, file: string, files: FileStamp[]): Promise<ReadResult> {
  let real: string;
  try {
    real = await fsp.realpath(file);
  } catch {
    files.push(stamp(file, null, true));
    return { ok: false };
  }
  if (!isInside(realConfigDir, real)) {
    // A symlink leading out: stamp the link itself, never touch the target.
    files.push(stamp(file, await fsp.lstat(file).catch(() => null), false));
    return { ok: false };
  }
  try {
    const stats = await fsp.stat(file);
    files.push(stamp(file, stats, true));
    if (!stats.isFile() || stats.size > MAX_YAML_BYTES) return { ok: false };
    return { ok: true, text: await fsp.readFile(file, 'utf8') };
  } catch {
    if (files.at(-1)?.path !== file) files.push(stamp(file, null, true));
    return { ok: false };
  }
}

function readIncludeSync(realConfigDir: string, file: string, files: FileStamp[]): ReadResult {
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    files.push(stamp(file, null, true));
    return { ok: false };
  }
  if (!isInside(realConfigDir, real)) {
    let link: Stats | null = null;
    try {
      link = lstatSync(file);
    } catch {
      // Gone in between: stamped as missing.
    }
    files.push(stamp(file, link, false));
    return { ok: false };
  }
  try {
    const stats = statSync(file);
    files.push(stamp(file, stats, true));
    if (!stats.isFile() || stats.size > MAX_YAML_BYTES) return { ok: false };
    return { ok: true, text: readFileSync(file, 'utf8') };
  } catch {
    if (files.at(-1)?.path !== file) files.push(stamp(file, null, true));
    return { ok: false };
  }
}

function mainFailure(files: FileStamp[], error: string): LoadedDeviceYaml {
  return { ...failed(error), files };
}

/** A guarded read's text; a file that vanished between the stat and the read is an error like any unreadable one. */
function textOf(read: GuardedRead | null): string {
  if (read === null) throw new Error('the file vanished while being read');
  return read.bytes.toString('utf8');
}

/**
 * Loads one device YAML from the config dir and resolves it with its
 * includes and local packages; null when the file does not exist. Never
 * throws for bad content.
 */
export async function loadDeviceYaml(configDir: string, configuration: string): Promise<LoadedDeviceYaml | null> {
  const file = path.join(configDir, configuration);
  let stats: Stats;
  try {
    stats = await fsp.stat(file);
  } catch {
    return null;
  }
  const files = [stamp(file, stats, true)];
  // Checked before reading so a stray 10 GB file costs a stat, not memory.
  if (stats.size > MAX_YAML_BYTES) return mainFailure(files, `file is too large to be an ESPHome config (${stats.size} bytes)`);
  let text: string;
  try {
    // Guarded: a FIFO or device swapped in after the listing is refused, never opened or waited on.
    text = textOf(await readGuarded(file, { maxBytes: MAX_YAML_BYTES, followLinks: true }));
  } catch (err) {
    return mainFailure(files, `cannot read file: ${(err as Error).message}`);
  }
  let realConfigDir: string | null = null;
  const steps = resolveText(text, configDir);
  let step = steps.next();
  while (!step.done) {
    realConfigDir ??= await fsp.realpath(configDir).catch(() => path.resolve(configDir));
    step = steps.next(await readIncludeAsync(realConfigDir, step.value.file, files));
  }
  return { ...step.value, files };
}

/** {@link loadDeviceYaml} for a YAML at any path (its folder is the config dir), synchronously. */
export function loadDeviceYamlSync(yamlPath: string): LoadedDeviceYaml | null {
  const configDir = path.dirname(path.resolve(yamlPath));
  const file = path.resolve(yamlPath);
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch {
    return null;
  }
  const files = [stamp(file, stats, true)];
  if (stats.size > MAX_YAML_BYTES) return mainFailure(files, `file is too large to be an ESPHome config (${stats.size} bytes)`);
  let text: string;
  try {
    text = textOf(readGuardedSync(file, { maxBytes: MAX_YAML_BYTES, followLinks: true }));
  } catch (err) {
    return mainFailure(files, `cannot read file: ${(err as Error).message}`);
  }
  let realConfigDir: string | null = null;
  const steps = resolveText(text, configDir);
  let step = steps.next();
  while (!step.done) {
    if (realConfigDir === null) {
      try {
        realConfigDir = realpathSync(configDir);
      } catch {
        realConfigDir = configDir;
      }
    }
    step = steps.next(readIncludeSync(realConfigDir, step.value.file, files));
  }
  return { ...step.value, files };
}

/** Whether every stamped file still has the mtime and size it had (missing ones still missing). */
export async function stampsCurrent(files: readonly FileStamp[]): Promise<boolean> {
  for (const file of files) {
    let stats: Stats | null;
    try {
      stats = file.follow ? await fsp.stat(file.path) : await fsp.lstat(file.path);
    } catch {
      stats = null;
    }
    const now = stamp(file.path, stats, file.follow);
    if (now.mtimeMs !== file.mtimeMs || now.size !== file.size) return false;
  }
  return true;
}
