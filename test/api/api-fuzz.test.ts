/**
 * Bad input over the `/ws` API (fast version; `stress/api-fuzz.stress.ts`
 * sends 10,000 frames): about 1,000 fast-check frames against the real
 * server on a throwaway config dir. Every frame gets exactly one reply with
 * the right message_id and no internal_error; a bystander socket stays open
 * and answers; nothing outside the config dir changes; no prototype is
 * polluted; memory stays bounded. See `test/helpers/api-fuzz.ts` for the
 * exact contract.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../../src/api/ws-api.js';
import type { Device } from '../../src/shared/device.js';
import {
  checksumTree,
  collectGarbage,
  expectFor,
  fuzzWorld,
  FuzzSocket,
  MB,
  mb,
  memorySample,
  runFuzz,
  STUB_ESPHOME,
  warmUpArbitraries,
  type MemorySample,
} from '../helpers/api-fuzz.js';
import { cleanupTempDirs } from '../helpers/fs-fixtures.js';
import { startServer, stopServers } from '../helpers/server-fixture.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

describe('the JSON depth guard', () => {
  it('measures depth iteratively, at any depth', () => {
    expect(jsonDepthExceeds(1, 0)).toBe(false);
    expect(jsonDepthExceeds({}, 1)).toBe(false);
    expect(jsonDepthExceeds([[]], 1)).toBe(true);
    expect(jsonDepthExceeds(JSON.parse(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`), MAX_JSON_DEPTH)).toBe(false);
    expect(jsonDepthExceeds(JSON.parse(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`), MAX_JSON_DEPTH)).toBe(true);
    expect(jsonDepthExceeds(JSON.parse(`${'{"a":'.repeat(30_000)}1${'}'.repeat(30_000)}`), MAX_JSON_DEPTH)).toBe(true);
  });

  it('the oracle agrees with the server on the edge cases', () => {
    expect(expectFor('{"command": "devices/list", "message_id": -0}')).toEqual({ id: -0, command: 'devices/list' });
    expect(expectFor('{"command": "nope", "message_id": 3}', true)).toEqual({ id: 3, code: 'not_authenticated' });
    expect(expectFor('{"command": "devices/list", "message_id": 1e999}')).toEqual({ id: null, code: 'invalid_message' });
    expect(expectFor('{"command": "nope", "message_id": "x"}')).toEqual({ id: 'x', code: 'unknown_command' });
  });
});

describe('regressions the fuzzer found', () => {
  it('a preference value nested 5,000 deep is refused as invalid_message (was internal_error: zod recursed off the stack)', async () => {
    const world = fuzzWorld(1);
    const running = await startServer(world.configDir, { esphomeCommand: STUB_ESPHOME, sweepIntervalMs: 0 });
    const client = await FuzzSocket.open(running.wsUrl);
    for (const nested of [`${'['.repeat(5000)}${']'.repeat(5000)}`, `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`]) {
      client.socket.send(`{"command": "preferences/set", "message_id": "deep", "args": {"key": "k", "value": ${nested}}}`);
      await client.until(() => client.replies.length > 0, 5000);
      const [reply] = client.replies.splice(0);
      expect(reply).toMatchObject({ message_id: 'deep', error_code: 'invalid_message' });
    }
    // The sidecar took nothing and still takes a normal value.
    expect((await client.call('preferences/set', { key: 'k', value: { columns: ['name', 'size'] } })).result).toEqual({
      key: 'k',
      value: { columns: ['name', 'size'] },
    });
    expect((await client.call('preferences/get')).result).toEqual({ k: { columns: ['name', 'size'] } });
    await client.close();
  });

  it('a configuration over 255 bytes (but not 255 characters) is invalid_args, not internal_error (was ENAMETOOLONG from the file system)', async () => {
    const world = fuzzWorld(1);
    const running = await startServer(world.configDir, { esphomeCommand: STUB_ESPHOME, sweepIntervalMs: 0 });
    const client = await FuzzSocket.open(running.wsUrl);
    const long = `${'é'.repeat(200)}.yaml`;
    expect(long.length).toBeLessThanOrEqual(255);
    for (const command of ['devices/delete_archived', 'devices/unarchive', 'devices/archive', 'devices/delete', 'firmware/compile']) {
      const reply = await client.call(command, { configuration: long });
      expect(reply.error_code, command).toBe('invalid_args');
      expect(reply.details, command).toMatch(/255 bytes/);
    }
    // 255 bytes exactly is a legal name: answered, just not found.
    const edge = `${'a'.repeat(250)}.yaml`;
    for (const command of ['devices/delete_archived', 'devices/unarchive']) {
      expect((await client.call(command, { configuration: edge })).error_code, command).toBe('not_found');
    }
    await client.close();
  });
});

describe('api fuzz', () => {
  it('answers ~1,000 fuzzed frames one reply each, never crashes, never touches other sockets or files', async () => {
    const world = fuzzWorld();
    const before = checksumTree(world.sentinelDir);
    const parentBefore = fs.readdirSync(path.dirname(world.configDir)).sort();
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const running = await startServer(world.configDir, { esphomeCommand: STUB_ESPHOME, sweepIntervalMs: 0 });
    const bystander = await running.connect();
    await bystander.call('subscribe_events');

    warmUpArbitraries(world);
    collectGarbage();
    const start = memorySample();
    const report = await runFuzz({ url: running.wsUrl, world, frames: 1000, seed: 20_261_122 });
    // Baseline after the first 10% of frames: first-use costs (buffers for the
    // 1 MiB frames ws refuses, schema and JIT warm-up) are not a leak; growth
    // after that is. RSS rarely shrinks after a peak, and in a 1,000-frame run
    // the allocator's first-use of large buffers can land after the baseline
    // (seen on Node 24: +79 MB RSS with a flat heap), so here the heap after
    // GC is the leak check; RSS flatness is asserted over 10,000 frames in
    // stress/api-fuzz.stress.ts, where that one-off cost is amortized.
    const warm = report.memory.warm as MemorySample;
    const end = report.memory.end as MemorySample;
    expect(report.replies).toBe(report.socketFrames);
    expect(report.byReply['internal_error']).toBeUndefined();
    // The bystander was never closed and still answers; so does a new socket.
    expect(bystander.closeCode).toBeNull();
    expect(Array.isArray(await bystander.call<Device[]>('devices/list'))).toBe(true);
    const fresh = await FuzzSocket.open(running.wsUrl);
    expect((await fresh.call('devices/list')).error_code).toBeUndefined();
    await fresh.close();
    // Nothing outside the config dir changed; nothing was added beside it.
    expect(checksumTree(world.sentinelDir)).toEqual(before);
    expect(fs.readdirSync(path.dirname(world.configDir)).sort()).toEqual(parentBefore);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((running.server.refresher as unknown as { running: boolean }).running).toBe(true);
    expect(end.heapUsed - warm.heapUsed).toBeLessThan(10 * MB);
    console.info(
      `api fuzz: ${report.frames} frames (${report.killers} socket killers, codes ${JSON.stringify(report.killerCloseCodes)}) in ${report.bursts} bursts, ` +
        `${(report.ms / 1000).toFixed(1)} s; replies ${JSON.stringify(report.byReply)}; ` +
        `memory after GC: rss ${mb(start.rss)} at start, ${mb(warm.rss)} after 10%, ${mb(end.rss)} at end (peak ${mb(report.memory.peakRss)}); ` +
        `heap ${mb(start.heapUsed)} / ${mb(warm.heapUsed)} / ${mb(end.heapUsed)}`,
    );
    console.info(`api fuzz by command: ${JSON.stringify(report.byCommand)}`);
  }, 60_000);
});
