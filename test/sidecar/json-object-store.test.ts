/**
 * The generic engine as the other stores use it: a second file beside the
 * sidecar (the Python tool's per-instance store, our own state file), with
 * or without the cross-process lock, named in logs by its label.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deviceEntry as deviceEntryOf, JsonObjectStore } from '../../src/sidecar/json-object-store.js';
import { createLogger } from '../../src/util/log.js';
import { captureLog } from '../helpers/capture-log.js';
import { runPython } from '../helpers/python.js';

const logger = createLogger('silent');
let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'json-store-'));
  file = path.join(dir, '.device-builder-devices.json');
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['without a lock', false as const],
  ['with the cross-process lock', {}],
])('JsonObjectStore %s', (_label, lock) => {
  const make = (log = logger): JsonObjectStore => new JsonObjectStore(file, { logger: log, label: 'per-instance store', lock });

  it('exists() follows the file, whatever it holds', async () => {
    const s = make();
    expect(await s.exists()).toBe(false);
    expect(await s.read()).toEqual({});
    fs.writeFileSync(file, 'not json');
    expect(await s.exists()).toBe(true);
    expect(await s.read()).toEqual({});
  });

  it('exists() is false when the folder is missing', async () => {
    expect(await new JsonObjectStore(path.join(dir, 'gone', 'x.json'), { logger, lock }).exists()).toBe(false);
  });

  it('three-state updates, scrubFields and removeDevice on its own file only', async () => {
    const s = make();
    await s.updateDevices(
      new Map([
        ['a.yaml', { ip: '10.0.0.1', build_size_bytes: 5, deployed_version: '2025.1.0' }],
        ['b.yaml', { ip: '10.0.0.2' }],
      ]),
    );
    await s.scrubFields('a.yaml', ['ip', 'build_size_bytes']);
    await s.removeDevice('b.yaml');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ 'a.yaml': { deployed_version: '2025.1.0' } });
    await s.scrubFields('a.yaml', ['deployed_version']);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({});
    expect(fs.existsSync(path.join(dir, '.device-builder.json'))).toBe(false);
    const lockFile = fs.existsSync(`${file}.lock`);
    if (lock === false) expect(lockFile).toBe(false);
  });

  it('global sections, flush and a file Python reads back', async () => {
    const s = make();
    const pending = s.updateGlobal('_jobs', () => [{ id: 'j1', started: 1714900000.5 }]);
    await s.flush();
    await pending;
    expect(await s.readGlobal('_jobs')).toEqual([{ id: 'j1', started: 1714900000.5 }]);
    const python = runPython('import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))', [file]);
    expect(JSON.parse(python)).toEqual({ _jobs: [{ id: 'j1', started: 1714900000.5 }] });
  });

  it('names itself by its label in warnings and errors', async () => {
    fs.writeFileSync(file, '[1]');
    const capture = captureLog();
    await make(capture.logger).read();
    expect(capture.lines().some((line) => String(line['msg']).includes('per-instance store is not a JSON object'))).toBe(true);
    await expect(make().updateGlobal('a.yaml', () => 1)).rejects.toThrow(/not a global per-instance store key/);
  });

  it('a file JSON.parse reads is never "corrupt": nesting too deep to rewrite fails the update and keeps the file', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const original = `{"a.yaml": {"ip": "1"}, "_deep": ${deep}}`;
    fs.writeFileSync(file, original);
    const s = make();
    expect(await s.readGlobal('_deep')).toBeDefined();
    expect(deviceEntryOf(await s.read(), 'a.yaml')).toEqual({ ip: '1' });
    // Neither writer can serialize it this deep; what matters is that it is not replaced as corrupt.
    await expect(s.updateDevice('b.yaml', { ip: '2' })).rejects.toThrow(RangeError);
    expect(fs.readdirSync(dir).filter((name) => name.includes('.corrupt-') || name.includes('.tmp-'))).toEqual([]);
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });

  it('cleanStaleTemps removes its own dead temps, not the sidecar’s', async () => {
    const other = `.device-builder.json.tmp-999999999-aaaa`;
    const mine = `${path.basename(file)}.tmp-999999999-bbbb`;
    fs.writeFileSync(path.join(dir, other), '{}');
    fs.writeFileSync(path.join(dir, mine), '{}');
    expect(await make().cleanStaleTemps()).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([other]);
  });
});

describe('JsonObjectStore parse cache', () => {
  const make = (): JsonObjectStore => new JsonObjectStore(file, { logger, label: 'per-instance store', lock: false });

  it('parses each version of the file once and sees every writer’s change', async () => {
    const s = make();
    fs.writeFileSync(file, JSON.stringify({ 'a.yaml': { n: 1 } }));
    const first = await s.read();
    expect(await s.read()).toBe(first);
    expect(s.stats).toEqual({ parses: 1, cacheHits: 1 });
    // Shared by every reader, so nobody may change it.
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first['a.yaml'])).toBe(true);

    // Our own write (a rename: a new inode).
    await s.updateDevice('b.yaml', { n: 2 });
    expect(await s.read()).toEqual({ 'a.yaml': { n: 1 }, 'b.yaml': { n: 2 } });
    // Another process writing in place, same size, in the same second: ctime/mtime in ns still move.
    const before = fs.statSync(file);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"n": 2', '"n": 3'));
    fs.utimesSync(file, before.atime, before.mtime);
    expect(fs.statSync(file).size).toBe(before.size);
    expect(deviceEntryOf(await s.read(), 'b.yaml')).toEqual({ n: 3 });
    expect(s.stats.parses).toBe(3);

    fs.rmSync(file);
    expect(await s.read()).toEqual({});
    fs.writeFileSync(file, JSON.stringify({ 'c.yaml': { n: 4 } }));
    expect(await s.readDevice('c.yaml')).toEqual({ n: 4 });
  });

  it('never caches what it could not read: a corrupt file is re-judged after it is fixed', async () => {
    const s = make();
    fs.writeFileSync(file, '{"a.yaml": ');
    expect(await s.read()).toEqual({});
    fs.writeFileSync(file, '{"a.yaml": {"n": 1}}');
    expect(await s.readDevice('a.yaml')).toEqual({ n: 1 });
  });
});
