import { describe, expect, it } from 'vitest';
import { EMPTY_DEVICE_YAML, MAX_YAML_BYTES, PLATFORM_KEYS, TaggedValue, parseDeviceYaml, substitute } from '../../src/config/device-yaml.js';

/** Parses and asserts success, returning the device. */
function parseOk(text: string) {
  const result = parseDeviceYaml(text);
  expect(result.error).toBeNull();
  return result.device;
}

function expectError(text: string, pattern: RegExp): void {
  const result = parseDeviceYaml(text);
  expect(result.error).toMatch(pattern);
  expect(result.device).toEqual(EMPTY_DEVICE_YAML);
}

describe('parseDeviceYaml: the esphome block', () => {
  it('reads name, friendly_name, comment, area and build_path', () => {
    expect(
      parseOk(`esphome:
  name: kitchen
  friendly_name: Kitchen
  comment: by the fridge
  area: Downstairs
  build_path: custom/build
esp32:
  board: esp32dev
`),
    ).toEqual({
      name: 'kitchen',
      friendlyName: 'Kitchen',
      comment: 'by the fridge',
      area: 'Downstairs',
      platform: 'esp32',
      buildPathOption: 'custom/build',
      useAddress: null,
    });
  });

  it('reads fields the file does not set as null', () => {
    expect(parseOk('esphome:\n  name: bare\n')).toEqual({ ...EMPTY_DEVICE_YAML, name: 'bare' });
  });

  it('reads a file without an esphome block as all-null, not an error', () => {
    expect(parseOk('logger:\napi:\n')).toEqual(EMPTY_DEVICE_YAML);
  });

  it('reads an esphome block that is not a mapping as all-null', () => {
    expect(parseOk('esphome: just-a-string\n')).toEqual(EMPTY_DEVICE_YAML);
  });

  it('stringifies numeric and boolean scalars the way ESPHome would', () => {
    const device = parseOk('esphome:\n  name: 1234\n  comment: true\n');
    expect(device.name).toBe('1234');
    expect(device.comment).toBe('true');
  });

  it('reads a name that is a mapping or list as null', () => {
    expect(parseOk('esphome:\n  name: {a: 1}\n  friendly_name: [x]\n')).toMatchObject({
      name: null,
      friendlyName: null,
    });
  });

  it('reads area given as a mapping {id, name} by its name', () => {
    expect(parseOk('esphome:\n  name: k\n  area:\n    id: kitchen_area\n    name: Kitchen Area\n').area).toBe('Kitchen Area');
  });

  it('reads an area mapping without a name as null', () => {
    expect(parseOk('esphome:\n  name: k\n  area:\n    id: kitchen_area\n').area).toBeNull();
  });

  it('uses the last value of a duplicated key rather than failing', () => {
    expect(parseOk('esphome:\n  name: first\n  name: second\n').name).toBe('second');
  });

  it('reads a UTF-8 friendly name', () => {
    expect(parseOk('esphome:\n  name: kueche\n  friendly_name: "Küche 🍳"\n').friendlyName).toBe('Küche 🍳');
  });
});

describe('parseDeviceYaml: ESPHome tags never fail the parse', () => {
  it('accepts !secret', () => {
    const device = parseOk(`esphome:
  name: kitchen
wifi:
  ssid: !secret wifi_ssid
  password: !secret wifi_password
api:
  encryption:
    key: !secret api_key
`);
    expect(device.name).toBe('kitchen');
  });

  it('accepts !include in scalar form', () => {
    expect(parseOk('esphome:\n  name: k\npackages:\n  common: !include common/base.yaml\n').name).toBe('k');
  });

  it('accepts !include in mapping form (file + vars)', () => {
    expect(
      parseOk(`esphome:
  name: k
packages:
  wifi: !include
    file: common/wifi.yaml
    vars:
      ssid: home
esp8266:
  board: d1_mini
`),
    ).toMatchObject({ name: 'k', platform: 'esp8266' });
  });

  it('accepts !include_dir_named and the other !include_dir_* tags', () => {
    expect(
      parseOk(`esphome:
  name: k
packages: !include_dir_named packages
sensor: !include_dir_list sensors
binary_sensor: !include_dir_merge_list binary
switch: !include_dir_merge_named switches
`).name,
    ).toBe('k');
  });

  it('accepts !lambda with a multi-line |- block', () => {
    expect(
      parseOk(`esphome:
  name: k
  on_boot:
    then:
      - lambda: !lambda |-
          int x = 1;
          // a comment with: colons and "quotes" and $dollar
          if (x > 0) {
            ESP_LOGD("main", "x=%d", x);
          }
sensor:
  - platform: template
    lambda: !lambda 'return 42.0;'
`).name,
    ).toBe('k');
  });

  it('accepts !extend and !remove', () => {
    expect(
      parseOk(`esphome:
  name: k
sensor:
  - id: !extend base_sensor
    filters:
      - multiply: 2
  - id: !remove other_sensor
captive_portal: !remove
`).name,
    ).toBe('k');
  });

  it('accepts !env_var with and without a default', () => {
    expect(
      parseOk(`esphome:
  name: k
wifi:
  ssid: !env_var WIFI_SSID
  password: !env_var WIFI_PASSWORD fallback
`).name,
    ).toBe('k');
  });

  it('accepts !input (blueprint-style packages)', () => {
    expect(parseOk('esphome:\n  name: k\nlogger:\n  level: !input log_level\n').name).toBe('k');
  });

  it('accepts an unknown tag like !foo on a scalar and on a mapping', () => {
    expect(
      parseOk(`esphome:
  name: k
custom: !foo bar
other: !foo
  a: 1
`).name,
    ).toBe('k');
  });

  it('reads a tagged esphome field as unresolved rather than as the tag text', () => {
    const result = parseDeviceYaml('esphome:\n  name: k\n  friendly_name: !secret fname\n');
    expect(result.device.name).toBe('k');
    expect(result.device.friendlyName).toBeNull();
    expect(result.unresolved).toEqual(['friendlyName']);
  });

  it('reads a network block replaced by !include as having no use_address', () => {
    expect(parseOk('esphome:\n  name: k\nwifi: !include wifi.yaml\n').useAddress).toBeNull();
  });

  it('exposes tags as TaggedValue with their tag and source', () => {
    const value = new TaggedValue('!secret', 'wifi_ssid');
    expect(value.tag).toBe('!secret');
    expect(value.value).toBe('wifi_ssid');
    expect(String(value)).toBe('!secret wifi_ssid');
  });
});

describe('parseDeviceYaml: substitutions', () => {
  it('expands ${var} in name, friendly_name, area and comment', () => {
    expect(
      parseOk(`substitutions:
  devicename: kitchen
  upper: Kitchen
  room: Downstairs
  note: by the fridge
esphome:
  name: \${devicename}
  friendly_name: \${upper} Light
  area: \${room}
  comment: "Lives \${note}"
`),
    ).toMatchObject({ name: 'kitchen', friendlyName: 'Kitchen Light', area: 'Downstairs', comment: 'Lives by the fridge' });
  });

  it('expands bare $var', () => {
    expect(
      parseOk(`substitutions:
  devicename: kitchen
  room: Downstairs
esphome:
  name: $devicename
  friendly_name: $devicename sensor
  area: $room
  comment: in $room
`),
    ).toMatchObject({ name: 'kitchen', friendlyName: 'kitchen sensor', area: 'Downstairs', comment: 'in Downstairs' });
  });

  it('expands substitutions in an area mapping name', () => {
    expect(parseOk('substitutions:\n  room: Hall\nesphome:\n  name: k\n  area:\n    name: ${room}\n').area).toBe('Hall');
  });

  it('expands substitutions in use_address and build_path', () => {
    expect(
      parseOk(`substitutions:
  ip: 192.168.1.42
  dir: builds
esphome:
  name: k
  build_path: \${dir}/k
wifi:
  use_address: \${ip}
`),
    ).toMatchObject({ useAddress: '192.168.1.42', buildPathOption: 'builds/k' });
  });

  it('resolves chained substitutions (a variable that references another)', () => {
    expect(
      parseOk(`substitutions:
  base: kitchen
  name: \${base}-light
  full: \${name}-01
esphome:
  name: \${full}
  friendly_name: $name
`),
    ).toMatchObject({ name: 'kitchen-light-01', friendlyName: 'kitchen-light' });
  });

  it('resolves a chain regardless of declaration order', () => {
    expect(
      parseOk(`substitutions:
  full: \${name}-01
  name: \${base}-light
  base: kitchen
esphome:
  name: \${full}
`).name,
    ).toBe('kitchen-light-01');
  });

  it('does not hang on cyclic substitutions', () => {
    const started = Date.now();
    const result = parseDeviceYaml('substitutions:\n  a: ${b}\n  b: ${a}\nesphome:\n  name: ${a}\n');
    expect(result.error).toBeNull();
    // A cycle never settles: the name is unknown, not "${a}".
    expect(result.device.name).toBeNull();
    expect(result.unresolved).toEqual(['name']);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('reports a field with an undefined variable (either form) as unresolved, never as "${...}" text', () => {
    const result = parseDeviceYaml(`substitutions:
  known: yes_known
esphome:
  name: \${missing}
  friendly_name: $missing and \${known}
  comment: costs $5
`);
    expect(result.error).toBeNull();
    // `$5` cannot be a variable (a key may not start with a digit): plain text.
    expect(result.device).toMatchObject({ name: null, friendlyName: null, comment: 'costs $5' });
    expect(result.unresolved).toEqual(['name', 'friendlyName']);
  });

  it('reports ${var} without a substitutions block as unresolved', () => {
    const result = parseDeviceYaml('esphome:\n  name: ${devicename}\n');
    expect(result.device.name).toBeNull();
    expect(result.unresolved).toEqual(['name']);
  });

  it('reports a Jinja-style ${ expression } as unresolved', () => {
    const result = parseDeviceYaml('substitutions:\n  n: 2\nesphome:\n  name: node-${ n * 2 }\n');
    expect(result.device.name).toBeNull();
    expect(result.unresolved).toEqual(['name']);
  });

  it('follows ESPHome in dropping a leading $ from a substitution key', () => {
    expect(parseOk('substitutions:\n  $room: hall\nesphome:\n  name: ${room}-light\n').name).toBe('hall-light');
  });

  it('has no unresolved list when everything resolved', () => {
    expect(parseDeviceYaml('substitutions:\n  a: x\nesphome:\n  name: ${a}\n').unresolved).toBeUndefined();
  });

  it('stringifies numeric substitution values', () => {
    expect(parseOk('substitutions:\n  num: 42\nesphome:\n  name: node-${num}\n').name).toBe('node-42');
  });

  it('reports a name built from a !secret substitution as unresolved', () => {
    const result = parseDeviceYaml('substitutions:\n  pw: !secret pw\nesphome:\n  name: k-${pw}\n');
    expect(result.device.name).toBeNull();
    expect(result.unresolved).toEqual(['name']);
  });
});

describe('substitute', () => {
  const vars = new Map([
    ['a', 'A'],
    ['name_1', 'N'],
  ]);

  it('replaces ${var} and $var', () => {
    expect(substitute('${a}-$a-${name_1}-$name_1', vars)).toBe('A-A-N-N');
  });

  it('takes the longest bare name ($name_1x is unknown, not $name_1 + x)', () => {
    expect(substitute('$name_1x', vars)).toBe('$name_1x');
  });

  it('leaves a lone $ and unknown names alone', () => {
    expect(substitute('$ ${} $nope ${nope}', vars)).toBe('$ ${} $nope ${nope}');
  });
});

describe('parseDeviceYaml: platform detection', () => {
  it.each(PLATFORM_KEYS.map((key) => [key]))('detects %s from its top-level key', (key) => {
    expect(parseOk(`esphome:\n  name: dev\n${key}:\n  board: some_board\n`).platform).toBe(key);
  });

  it('covers exactly the eight ESPHome platform keys', () => {
    expect([...PLATFORM_KEYS].sort()).toEqual(['bk72xx', 'esp32', 'esp8266', 'host', 'ln882x', 'nrf52', 'rp2040', 'rtl87xx'].sort());
  });

  it('detects a platform key with an empty value (host:)', () => {
    expect(parseOk('esphome:\n  name: dev\nhost:\n').platform).toBe('host');
  });

  it('reads no platform key as null', () => {
    expect(parseOk('esphome:\n  name: dev\nlogger:\n').platform).toBeNull();
  });

  it('does not treat a platform name nested under another key as the platform', () => {
    expect(parseOk('esphome:\n  name: dev\nsensor:\n  esp32: 1\n').platform).toBeNull();
  });

  it('does not treat the legacy esphome.platform option as a platform key', () => {
    expect(parseOk('esphome:\n  name: dev\n  platform: ESP8266\n').platform).toBeNull();
  });
});

describe('parseDeviceYaml: use_address', () => {
  it.each(['wifi', 'ethernet', 'openthread'])('reads %s.use_address', (block) => {
    expect(parseOk(`esphome:\n  name: d\n${block}:\n  use_address: 10.0.0.9\n`).useAddress).toBe('10.0.0.9');
  });

  it('reads a network block without use_address as null', () => {
    expect(parseOk('esphome:\n  name: d\nwifi:\n  ssid: home\n').useAddress).toBeNull();
  });

  it('reads a bare wifi: key as null', () => {
    expect(parseOk('esphome:\n  name: d\nwifi:\n').useAddress).toBeNull();
  });
});

describe('parseDeviceYaml: unreadable input returns an error, never throws', () => {
  it('reports invalid YAML as a one-line "YAML error"', () => {
    const result = parseDeviceYaml('esphome:\n  name: [unclosed\n  friendly_name: x\n');
    expect(result.error).toMatch(/^YAML error: /);
    expect(result.error).not.toContain('\n');
    expect(result.device).toEqual(EMPTY_DEVICE_YAML);
  });

  it('reports a bad indentation as an error', () => {
    expectError('esphome:\n  name: a\n bad: b\n', /^YAML error/);
  });

  it('reports a tab-indented file as an error', () => {
    expectError('esphome:\n\tname: a\n', /^YAML error/);
  });

  it('reports an empty file', () => {
    expectError('', /empty/);
  });

  it('reports a file of only comments and whitespace as empty', () => {
    expectError('# just a comment\n\n   \n', /empty/);
  });

  it('reports a top level that is a list', () => {
    expectError('- esphome:\n    name: a\n', /not a mapping/);
  });

  it('reports a top level that is a scalar', () => {
    expectError('just a string\n', /not a mapping/);
  });

  it('reports a top level that is a tagged scalar', () => {
    expectError('!include other.yaml\n', /not a mapping/);
  });

  it('reports a binary file (NUL bytes)', () => {
    expectError('esphome:\n  name: a\u0000\u0001\u0002\n', /binary/);
  });

  it(`reports a file over MAX_YAML_BYTES (${MAX_YAML_BYTES}) without parsing it`, () => {
    const text = `esphome:\n  name: big\n# ${'x'.repeat(MAX_YAML_BYTES)}\n`;
    const started = Date.now();
    expectError(text, /too large/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('accepts a file of exactly MAX_YAML_BYTES', () => {
    const head = 'esphome:\n  name: edge\n#';
    const text = head + 'x'.repeat(MAX_YAML_BYTES - head.length);
    expect(text.length).toBe(MAX_YAML_BYTES);
    expect(parseDeviceYaml(text)).toMatchObject({ error: null, device: { name: 'edge' } });
  });

  it('refuses a billion-laughs alias bomb (10 levels x 10 aliases) quickly', () => {
    const lines = ['a0: &a0 "lol"'];
    for (let level = 1; level <= 10; level++) {
      const refs = Array.from({ length: 10 }, () => `*a${level - 1}`).join(', ');
      lines.push(`a${level}: &a${level} [${refs}]`);
    }
    lines.push('esphome:\n  name: bomb');
    const started = Date.now();
    const before = process.memoryUsage().heapUsed;
    const result = parseDeviceYaml(`${lines.join('\n')}\n`);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.error).toMatch(/^YAML error/);
    expect(result.device).toEqual(EMPTY_DEVICE_YAML);
    // 10^10 strings would need hundreds of GB; a refusal stays well under 200 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('still allows ordinary anchors and aliases', () => {
    expect(
      parseOk(`.base: &base
  board: esp32dev
esphome:
  name: aliased
esp32: *base
sensor:
  - <<: *base
    platform: template
`),
    ).toMatchObject({ name: 'aliased', platform: 'esp32' });
  });

  it('does not throw on arbitrary garbage', () => {
    for (const text of ['{{{{', ']]]', ': : :', '&a *a', '? ? ?', '"unterminated', '%YAML 9.9\n---\na: 1']) {
      expect(() => parseDeviceYaml(text)).not.toThrow();
    }
  });
});
