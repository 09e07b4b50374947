/**
 * Resolution of names through packages, includes, merge keys and
 * substitutions, on the real file system; include safety; the scanner's
 * cache over included files; the substitution-bomb caps.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigScanner } from '../../src/config/config-scanner.js';
import {
  MAX_EXPANDED_VALUE,
  MAX_FILES_PER_DEVICE,
  loadDeviceYaml,
  loadDeviceYamlSync,
  parseDeviceYaml,
  type LoadedDeviceYaml,
} from '../../src/config/device-yaml.js';
import { writeFile, writeStorageJson } from '../helpers/fs-fixtures.js';

let root: string;
let configDir: string;
let dataDir: string;

beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'device-yaml-resolve-')));
  configDir = path.join(root, 'config');
  dataDir = path.join(configDir, '.esphome');
  fs.mkdirSync(configDir);
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function write(name: string, content: string): string {
  const file = path.join(configDir, name);
  writeFile(file, content);
  return file;
}

function writeStorage(configuration: string, content: Record<string, unknown>): void {
  writeStorageJson(dataDir, configuration, content);
}

async function load(configuration: string): Promise<LoadedDeviceYaml> {
  const loaded = await loadDeviceYaml(configDir, configuration);
  expect(loaded).not.toBeNull();
  // The sync loader (the fake esphome's) reads exactly alike.
  expect(loadDeviceYamlSync(path.join(configDir, configuration))).toEqual(loaded);
  return loaded as LoadedDeviceYaml;
}

async function device(configuration: string) {
  const loaded = await load(configuration);
  expect(loaded.error).toBeNull();
  return loaded.device;
}

async function scanOne(configuration: string) {
  const found = await new ConfigScanner(configDir, dataDir).loadDevice(configuration, {});
  expect(found).not.toBeNull();
  return found!;
}

describe('packages', () => {
  it('dict form: substitutions from an included package; the main file wins', async () => {
    write('common/base.yaml', 'substitutions:\n  room: Hall\n  devicename: from-package\nlogger:\n');
    write(
      'kitchen.yaml',
      'substitutions:\n  devicename: kitchen\npackages:\n  base: !include common/base.yaml\nesphome:\n  name: ${devicename}\n  friendly_name: ${room} Light\n',
    );
    expect(await device('kitchen.yaml')).toMatchObject({ name: 'kitchen', friendlyName: 'Hall Light' });
  });

  it('list form, a later package winning over an earlier one', async () => {
    write('a.yaml', 'substitutions:\n  who: first\n  only_a: A\n');
    write('b.yaml', 'substitutions:\n  who: second\n');
    write('k.yaml', 'packages:\n  - !include a.yaml\n  - !include b.yaml\nesphome:\n  name: ${who}-${only_a}\n');
    expect((await device('k.yaml')).name).toBe('second-A');
  });

  it('an inline dict package', async () => {
    write('k.yaml', 'packages:\n  inline:\n    substitutions:\n      n: inline-name\n    esp8266:\n      board: d1\nesphome:\n  name: $n\n');
    expect(await device('k.yaml')).toMatchObject({ name: 'inline-name', platform: 'esp8266' });
  });

  it('!include {file, vars}: vars substitute into the included file, defaults fill the rest', async () => {
    write('templates/device.yaml', 'defaults:\n  room: Nowhere\n  suffix: plug\nesphome:\n  name: ${room_id}-${suffix}\n  friendly_name: ${room} ${suffix}\n');
    write('k.yaml', 'packages:\n  dev: !include\n    file: templates/device.yaml\n    vars:\n      room_id: kitchen\n      room: Kitchen\n');
    expect(await device('k.yaml')).toMatchObject({ name: 'kitchen-plug', friendlyName: 'Kitchen plug' });
  });

  it('nested packages, with includes relative to the including file', async () => {
    write('common/inner/leaf.yaml', 'substitutions:\n  leaf: deep\n');
    write('common/outer.yaml', 'packages:\n  leaf: !include inner/leaf.yaml\n');
    write('k.yaml', 'packages:\n  outer: !include common/outer.yaml\nesphome:\n  name: node-${leaf}\n');
    expect((await device('k.yaml')).name).toBe('node-deep');
  });

  it('packages: !include of a whole packages file', async () => {
    write('pk.yaml', 'one:\n  substitutions:\n    n: via-file\n');
    write('k.yaml', 'packages: !include pk.yaml\nesphome:\n  name: ${n}\n');
    expect((await device('k.yaml')).name).toBe('via-file');
  });
});

describe('the esphome block', () => {
  it('esphome: !include, merged with the main file (main wins) through a package', async () => {
    write('common/esphome.yaml', 'name: shared-name\nfriendly_name: Shared\ncomment: from include\n');
    write('pkg.yaml', 'esphome: !include common/esphome.yaml\n');
    write('k.yaml', 'packages:\n  p: !include pkg.yaml\nesphome:\n  name: own-name\n');
    expect(await device('k.yaml')).toMatchObject({ name: 'own-name', friendlyName: 'Shared', comment: 'from include' });
  });

  it('esphome: !include in the main file', async () => {
    write('common/esphome.yaml', 'name: ${devicename}\narea: Attic\n');
    write('k.yaml', 'substitutions:\n  devicename: attic-fan\nesphome: !include common/esphome.yaml\n');
    expect(await device('k.yaml')).toMatchObject({ name: 'attic-fan', area: 'Attic' });
  });

  it('YAML merge keys: <<: *base, explicit keys win, a list merges earlier-first', async () => {
    write(
      'k.yaml',
      '.base: &base\n  name: base-name\n  friendly_name: Base\n  comment: base comment\n.more: &more\n  comment: more comment\n  area: More\nesphome:\n  <<: [*base, *more]\n  name: merged\n',
    );
    expect(await device('k.yaml')).toMatchObject({ name: 'merged', friendlyName: 'Base', comment: 'base comment', area: 'More' });
  });

  it('<<: !include', async () => {
    write('base.yaml', 'name: from-merge\nfriendly_name: Merged In\n');
    write('k.yaml', 'esphome:\n  <<: !include base.yaml\n  friendly_name: Own\n');
    expect(await device('k.yaml')).toMatchObject({ name: 'from-merge', friendlyName: 'Own' });
  });

  it('friendly_name: !include of a scalar file', async () => {
    write('names/kitchen.yaml', '"Kitchen ${suffix}"\n');
    write('k.yaml', 'substitutions:\n  suffix: Lamp\nesphome:\n  name: k\n  friendly_name: !include names/kitchen.yaml\n');
    expect((await device('k.yaml')).friendlyName).toBe('Kitchen Lamp');
  });
});

describe('what cannot be resolved offline', () => {
  it('a remote package: name and friendly name come from StorageJSON once compiled', async () => {
    write('k.yaml', 'packages:\n  remote: github://esphome/firmware/esphome-web/esp32.yaml@main\n');
    write('r.yaml', 'packages:\n  remote:\n    url: https://github.com/x/y\n    ref: main\n    files: [a.yaml]\nesphome:\n  friendly_name: ${fn}\n');
    const parsed = await load('k.yaml');
    expect(parsed.unresolved).toEqual(['name', 'friendlyName', 'comment', 'area']);
    // Never compiled: the file stem, never "${...}".
    expect(await scanOne('k.yaml')).toMatchObject({ name: 'k', friendly_name: 'k' });
    expect(await scanOne('r.yaml')).toMatchObject({ name: 'r', friendly_name: 'r' });
    writeStorage('k.yaml', { name: 'esp-web-1a2b3c', friendly_name: 'ESP Web' });
    writeStorage('r.yaml', { name: 'remote-r', friendly_name: 'Remote R' });
    expect(await scanOne('k.yaml')).toMatchObject({ name: 'esp-web-1a2b3c', friendly_name: 'ESP Web', address: 'esp-web-1a2b3c.local' });
    expect(await scanOne('r.yaml')).toMatchObject({ name: 'remote-r', friendly_name: 'Remote R' });
  });

  it('StorageJSON wins over the sidecar only for an unresolved friendly name', async () => {
    write('u.yaml', 'esphome:\n  name: u\n  friendly_name: !secret fname\n');
    write('plain.yaml', 'esphome:\n  name: plain\n');
    writeStorage('u.yaml', { name: 'u', friendly_name: 'Compiled U' });
    writeStorage('plain.yaml', { name: 'plain', friendly_name: 'Compiled Plain' });
    const scanner = new ConfigScanner(configDir, dataDir);
    const sidecar = { 'u.yaml': { friendly_name: 'Side U' }, 'plain.yaml': { friendly_name: 'Side Plain' } };
    expect((await scanner.loadDevice('u.yaml', sidecar))?.friendly_name).toBe('Compiled U');
    expect((await scanner.loadDevice('plain.yaml', sidecar))?.friendly_name).toBe('Side Plain');
  });

  it('a missing include: unresolved, file stem without StorageJSON, its name with', async () => {
    write('k.yaml', 'packages:\n  gone: !include nowhere.yaml\nesphome:\n  friendly_name: Fixed\n');
    const parsed = await load('k.yaml');
    expect(parsed).toMatchObject({ error: null, device: { name: null, friendlyName: 'Fixed' }, unresolved: ['name', 'comment', 'area'] });
    expect(await scanOne('k.yaml')).toMatchObject({ name: 'k', friendly_name: 'Fixed' });
    writeStorage('k.yaml', { name: 'compiled-k' });
    expect((await scanOne('k.yaml')).name).toBe('compiled-k');
  });

  it('an undefined substitution never shows as the name', async () => {
    write('k.yaml', 'esphome:\n  name: ${nope}\n  friendly_name: ${nope} Light\n');
    expect(await scanOne('k.yaml')).toMatchObject({ name: 'k', friendly_name: 'k' });
  });

  it('without file access (parseDeviceYaml) every include stays unresolved', () => {
    expect(parseDeviceYaml('packages:\n  a: !include a.yaml\nesphome:\n  name: k\n')).toMatchObject({
      device: { name: 'k' },
      unresolved: ['friendlyName', 'comment', 'area'],
    });
  });
});

describe('include safety', () => {
  const secretName = 'leaked-from-outside';

  beforeEach(() => {
    fs.writeFileSync(path.join(root, 'outside.yaml'), `substitutions:\n  n: ${secretName}\n`);
    fs.writeFileSync(path.join(root, 'outside-name.yaml'), `${secretName}\n`);
  });

  it.each([
    ['a .. path', '../outside.yaml'],
    ['a deeper .. path', 'common/../../outside.yaml'],
    ['an absolute path', () => path.join(root, 'outside.yaml')],
  ])('never reads %s out of the config dir', async (_label, target) => {
    const file = typeof target === 'function' ? target() : target;
    write('k.yaml', `packages:\n  p: !include ${file}\nesphome:\n  name: \${n}\n`);
    const parsed = await load('k.yaml');
    expect(parsed.device.name).toBeNull();
    expect(parsed.unresolved).toContain('name');
    // Nothing outside was even stamped.
    expect(parsed.files.map((f) => f.path)).toEqual([path.join(configDir, 'k.yaml')]);
    expect(JSON.stringify(await scanOne('k.yaml'))).not.toContain(secretName);
  });

  it('never follows a symlink inside the config dir that leads outside', async () => {
    fs.symlinkSync(path.join(root, 'outside-name.yaml'), path.join(configDir, 'link.yaml'));
    fs.mkdirSync(path.join(configDir, 'common'));
    fs.symlinkSync(root, path.join(configDir, 'common', 'up'));
    write('k.yaml', 'esphome:\n  name: !include link.yaml\n  friendly_name: !include common/up/outside-name.yaml\n');
    const parsed = await load('k.yaml');
    expect(parsed.device).toMatchObject({ name: null, friendlyName: null });
    expect(parsed.unresolved).toEqual(['name', 'friendlyName']);
    expect(JSON.stringify(parsed)).not.toContain(secretName);
  });

  it('allows an absolute path and a symlink that stay inside the config dir', async () => {
    write('real/name.yaml', 'inside-name\n');
    fs.symlinkSync(path.join(configDir, 'real', 'name.yaml'), path.join(configDir, 'alias.yaml'));
    write('k.yaml', `esphome:\n  name: !include ${path.join(configDir, 'real', 'name.yaml')}\n  friendly_name: !include alias.yaml\n`);
    expect(await device('k.yaml')).toMatchObject({ name: 'inside-name', friendlyName: 'inside-name' });
  });

  it('bounds an include cycle (a file including itself) by depth', async () => {
    write('loop.yaml', 'packages:\n  again: !include loop.yaml\nsubstitutions:\n  n: looped\n');
    write('k.yaml', 'packages:\n  l: !include loop.yaml\nesphome:\n  name: ${n}\n');
    const started = performance.now();
    const parsed = await load('k.yaml');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(parsed.error).toBeNull();
    expect(parsed.device.name).toBe('looped');
  });

  it(`reads at most ${MAX_FILES_PER_DEVICE} files for one device`, async () => {
    for (let i = 0; i < MAX_FILES_PER_DEVICE + 10; i++) write(`p/${i}.yaml`, `substitutions:\n  v${i}: x\n`);
    const list = Array.from({ length: MAX_FILES_PER_DEVICE + 10 }, (_, i) => `  - !include p/${i}.yaml`).join('\n');
    write('k.yaml', `packages:\n${list}\nesphome:\n  name: k\n`);
    const parsed = await load('k.yaml');
    expect(parsed.files.length).toBeLessThanOrEqual(MAX_FILES_PER_DEVICE);
    expect(parsed.device.name).toBe('k');
    expect(parsed.unresolved).toContain('friendlyName');
  });
});

describe('the scanner cache covers included files', () => {
  const FIXED = new Date('2024-05-05T10:00:00Z');

  it('re-resolves when an included file changes, though the main file did not', async () => {
    const inc = write('common/subs.yaml', 'substitutions:\n  n: before\n');
    const main = write('k.yaml', 'packages:\n  s: !include common/subs.yaml\nesphome:\n  name: ${n}\n');
    fs.utimesSync(main, FIXED, FIXED);
    const scanner = new ConfigScanner(configDir, dataDir);
    expect((await scanner.scan({}))[0]?.name).toBe('before');
    fs.writeFileSync(inc, 'substitutions:\n  n: after-change\n');
    expect((await scanner.scan({}))[0]?.name).toBe('after-change');
    expect(fs.statSync(main).mtime).toEqual(FIXED);
  });

  it('re-resolves when a missing include appears', async () => {
    write('k.yaml', 'packages:\n  s: !include later.yaml\nesphome:\n  name: ${n}\n');
    const scanner = new ConfigScanner(configDir, dataDir);
    expect((await scanner.scan({}))[0]?.name).toBe('k');
    write('later.yaml', 'substitutions:\n  n: appeared\n');
    expect((await scanner.scan({}))[0]?.name).toBe('appeared');
  });

  it('keeps using the cache when nothing changed', async () => {
    const inc = write('subs.yaml', 'substitutions:\n  n: aaaa\n');
    write('k.yaml', 'packages:\n  s: !include subs.yaml\nesphome:\n  name: ${n}\n');
    fs.utimesSync(inc, FIXED, FIXED);
    const scanner = new ConfigScanner(configDir, dataDir);
    expect((await scanner.scan({}))[0]?.name).toBe('aaaa');
    // Same size and mtime, different bytes: only a re-read would notice.
    fs.writeFileSync(inc, 'substitutions:\n  n: bbbb\n');
    fs.utimesSync(inc, FIXED, FIXED);
    expect((await scanner.scan({}))[0]?.name).toBe('aaaa');
  });
});

describe('substitution bomb', () => {
  /** ~500 bytes whose last variable would be 40 * 8^7 = 84 million characters. */
  function bomb(levels = 8): string {
    const lines = ['substitutions:', `  a0: "${'x'.repeat(40)}"`];
    for (let i = 1; i < levels; i++) lines.push(`  a${i}: "${`\${a${i - 1}}`.repeat(8)}"`);
    const last = `\${a${levels - 1}}`;
    lines.push('esphome:', `  name: ${last}`, `  friendly_name: ${last}`, `  comment: ${last}`, '  area: x');
    return `${lines.join('\n')}\n`;
  }

  it('is refused in milliseconds with an error, and the device stays small', async () => {
    const text = bomb();
    expect(text.length).toBeLessThan(1500);
    write('bomb.yaml', text);
    const started = performance.now();
    const parsed = parseDeviceYaml(text);
    const elapsed = performance.now() - started;
    expect(parsed.error).toMatch(/substitution expands past 64 KiB/);
    expect(parsed.device.name).toBeNull();
    expect(elapsed).toBeLessThan(250);
    const listed = await scanOne('bomb.yaml');
    expect(listed).toMatchObject({ name: 'bomb', friendly_name: 'bomb', error: expect.stringMatching(/64 KiB/) });
    expect(JSON.stringify(listed).length).toBeLessThan(2000);
  });

  it('caps the total per file at 1 MiB even when every value stays under 64 KiB', async () => {
    // 40 strings of 40 KiB each once the include's var is in: 1.6 MiB in all.
    const strings = Array.from({ length: 40 }, (_, i) => `  s${i}: "\${v}"`).join('\n');
    write('t.yaml', `esphome:\n  name: t\nlogger:\n${strings}\n`);
    write('k.yaml', `packages:\n  t: !include\n    file: t.yaml\n    vars:\n      v: "${'w'.repeat(40 * 1024)}"\n`);
    const started = performance.now();
    const parsed = await load('k.yaml');
    expect(performance.now() - started).toBeLessThan(500);
    expect(parsed.error).toMatch(/past 1 MiB in total/);
  });

  it('stops a value at the cap without building it (a long chain within 1 MiB is fine)', () => {
    const ok = parseDeviceYaml(`substitutions:\n  a: "${'z'.repeat(MAX_EXPANDED_VALUE - 10)}"\nesphome:\n  name: \${a}\n`);
    expect(ok.error).toBeNull();
    expect(ok.device.name?.length).toBe(MAX_EXPANDED_VALUE - 10);
    const over = parseDeviceYaml(`substitutions:\n  a: "${'z'.repeat(MAX_EXPANDED_VALUE)}"\nesphome:\n  name: \${a}!\n`);
    expect(over.error).toMatch(/64 KiB/);
  });

  it('caps include vars too', async () => {
    write('t.yaml', `esphome:\n  name: "${'${v}'.repeat(64)}"\n`);
    write('k.yaml', `packages:\n  t: !include\n    file: t.yaml\n    vars:\n      v: "${'w'.repeat(2048)}"\n`);
    const parsed = await load('k.yaml');
    expect(parsed.error).toMatch(/64 KiB/);
  });

  it('refuses a merge-key alias bomb quickly', () => {
    const lines = ['a0: &a0 {k0: 1}'];
    for (let level = 1; level <= 12; level++) {
      lines.push(`a${level}: &a${level} {<<: [${Array.from({ length: 10 }, () => `*a${level - 1}`).join(', ')}], k${level}: 1}`);
    }
    lines.push('esphome:\n  <<: *a12\n  name: m');
    const started = performance.now();
    const parsed = parseDeviceYaml(`${lines.join('\n')}\n`);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(parsed.error).toMatch(/YAML error/);
  });
});

describe('a device YAML that is not a regular file', () => {
  it('a FIFO at the YAML path (swapped in after the listing) is an error, never opened or waited on', async () => {
    const fifo = path.join(configDir, 'kitchen.yaml');
    spawnSync('mkfifo', [fifo]);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    // Without the guard, reading a FIFO with no writer blocks until the test times out.
    const loaded = await loadDeviceYaml(configDir, 'kitchen.yaml');
    expect(loaded?.error).toMatch(/FIFO/);
    expect(loadDeviceYamlSync(fifo)?.error).toMatch(/FIFO/);
  });
});
