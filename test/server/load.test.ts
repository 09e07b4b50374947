/**
 * Load, fast version (`stress/load.stress.ts` runs the full sizes and the
 * 500k-file fleet): a 10,000-call `request()` burst over 1,000 devices walks
 * only the devices that changed; 30 subscribed clients each receive every
 * device_updated of 50 changing devices exactly once, in emit order, while a
 * client that stops reading is dropped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs } from '../helpers/fs-fixtures.js';
import { fanOut, ms, requestBurst } from '../helpers/load.js';
import { stopServers } from '../helpers/server-fixture.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

describe('request bursts', () => {
  it('1,000 devices, 37 changed, 10,000 request() calls in one burst: exactly 37 walks, all 37 persisted', async () => {
    const report = await requestBurst({ devices: 1000, changed: 37, requests: 10_000, seed: 37 });
    expect(report.initialWalks).toBe(1000);
    expect(report.distinctRequested).toBe(1000);
    expect(report.walks).toBe(37);
    expect(report.persisted).toBe(37);
    console.info(
      `request burst: settle (1,000 initial walks) ${ms(report.settleMs)} (walking ${ms(report.initialWalkMs)}); 10,000 request() calls ${ms(report.requestCallsMs)}, ` +
        `drained in ${ms(report.burstMs)}; walks ${report.walks}/${report.changed.length} changed`,
    );
  }, 120_000);
});

describe('event fan-out', () => {
  it('30 clients × 50 changing devices: each gets every device_updated once, in order; a client that stops reading is dropped', async () => {
    const report = await fanOut({ devices: 50, clients: 30, slowClient: true, floodRequests: 1500 });
    expect(report.emitted).toHaveLength(50);
    expect(new Set(report.emitted).size).toBe(50);
    expect(report.exact.every(Boolean)).toBe(true);
    expect(report.slow?.dropped).toBe(1);
    expect([1006, 1008]).toContain(report.slow?.closeCode);
    console.info(
      `fan-out 30×50: all delivered in ${ms(report.totalMs)}; emit→receive p50 ${ms(report.latency.p50)}, p99 ${ms(report.latency.p99)}, max ${ms(report.latency.max)}; ` +
        `slow client: ${JSON.stringify(report.slow)}`,
    );
  }, 120_000);
});
