/**
 * Reads the handful of fields the dashboard needs out of one ESPHome YAML.
 *
 * ESPHome YAML is not plain YAML: it leans on custom tags (`!secret`,
 * `!include`, `!lambda`, ...) that only ESPHome itself can resolve. We never
 * need their values, only to not choke on them, so every known tag resolves
 * to an opaque {@link TaggedValue} and unknown tags fall back to the `yaml`
 * library's plain resolution (a warning, never an error). Only the top-level
 * `esphome:` block, `substitutions:` and the platform key matter here.
 *
 * Alias expansion is capped so a "billion laughs" file cannot blow memory,
 * files over {@link MAX_YAML_BYTES} are refused before parsing, and so is
 * text nesting deeper than the parser's stack can take (util/yaml-depth.ts).
 */
import { parseDocument, type ScalarTag } from 'yaml';
import { MAX_YAML_NESTING, yamlNestingExceeds } from '../util/yaml-depth.js';

/** ESPHome config files are a few KB; anything this big is not a config. */
export const MAX_YAML_BYTES = 4 * 1024 * 1024;

/** Top-level keys that name the target platform, as ESPHome spells them. */
export const PLATFORM_KEYS = ['esp32', 'esp8266', 'rp2040', 'bk72xx', 'rtl87xx', 'ln882x', 'nrf52', 'host'] as const;

/** An ESPHome tag we parse but cannot (and need not) resolve. */
export class TaggedValue {
  constructor(
    readonly tag: string,
    readonly value: string,
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

const customTags: ScalarTag[] = ESPHOME_TAGS.map((tag) => ({
  tag,
  resolve: (source: string) => new TaggedValue(tag, source),
}));

/** What one YAML says about its device; null where the file does not say. */
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

export interface ParsedDeviceYaml {
  device: DeviceYaml;
  /** Why the file could not be read, or null when it parsed. */
  error: string | null;
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

/**
 * Expands `${var}` and `$var` from `substitutions:`. Unknown variables are
 * left as written, exactly as ESPHome reports them, rather than erased.
 */
export function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)/g, (whole, braced?: string, bare?: string) => {
    const value = vars.get((braced ?? bare) as string);
    return value ?? whole;
  });
}

function substitutionVars(root: Mapping): Map<string, string> {
  const vars = new Map<string, string>();
  const subs = root['substitutions'];
  if (!isMapping(subs)) return vars;
  for (const [key, value] of Object.entries(subs)) {
    const text = scalarText(value);
    if (text !== null) vars.set(key, text);
  }
  // Substitutions may reference each other; a few passes settle any chain
  // a real config uses without risking a loop on a cyclic one.
  for (let pass = 0; pass < 5; pass++) {
    let changed = false;
    for (const [key, value] of vars) {
      const next = substitute(value, vars);
      if (next !== value) {
        vars.set(key, next);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return vars;
}

/** Parses ESPHome YAML text; never throws. */
export function parseDeviceYaml(text: string): ParsedDeviceYaml {
  if (text.length > MAX_YAML_BYTES) {
    return { device: { ...EMPTY_DEVICE_YAML }, error: `file is too large to be an ESPHome config (${text.length} bytes)` };
  }
  if (text.includes('\u0000')) {
    return { device: { ...EMPTY_DEVICE_YAML }, error: 'file is binary, not YAML' };
  }
  // Deep nesting overflows the parser's stack, which on Node 20 can corrupt
  // V8's regexp compiler and abort the process on the next parse.
  if (yamlNestingExceeds(text)) {
    return { device: { ...EMPTY_DEVICE_YAML }, error: `YAML nests more than ${MAX_YAML_NESTING} levels deep` };
  }
  let root: unknown;
  try {
    const doc = parseDocument(text, { customTags, uniqueKeys: false, prettyErrors: false });
    const first = doc.errors[0];
    if (first) return { device: { ...EMPTY_DEVICE_YAML }, error: `YAML error: ${first.message.split('\n')[0]}` };
    root = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    return { device: { ...EMPTY_DEVICE_YAML }, error: `YAML error: ${(err as Error).message.split('\n')[0]}` };
  }
  if (root === null || root === undefined) return { device: { ...EMPTY_DEVICE_YAML }, error: 'file is empty' };
  if (!isMapping(root)) return { device: { ...EMPTY_DEVICE_YAML }, error: 'top level is not a mapping' };

  const vars = substitutionVars(root);
  const text_ = (value: unknown): string | null => {
    const s = scalarText(value);
    return s === null ? null : substitute(s, vars);
  };
  const esphome = isMapping(root['esphome']) ? root['esphome'] : {};
  const platform = PLATFORM_KEYS.find((key) => key in root) ?? null;
  let useAddress: string | null = null;
  for (const net of ['wifi', 'ethernet', 'openthread']) {
    const block = root[net];
    if (isMapping(block) && block['use_address'] !== undefined) {
      useAddress = text_(block['use_address']);
      break;
    }
  }
  return {
    device: {
      name: text_(esphome['name']),
      friendlyName: text_(esphome['friendly_name']),
      comment: text_(esphome['comment']),
      // Newer ESPHome also accepts `area: {id, name}`.
      area: isMapping(esphome['area']) ? text_(esphome['area']['name']) : text_(esphome['area']),
      platform,
      buildPathOption: text_(esphome['build_path']),
      useAddress,
    },
    error: null,
  };
}
