/**
 * The adversarial review's resource attacks at its sizes (the small versions
 * run in `npm test`: test/api/ws-limits.test.ts, test/server/big-fleet.test.ts). The
 * server runs in its own process; figures are printed for
 * docs/RELIABILITY.md ("Attacks on the dashboard").
 *
 * - 150 and 300 sockets (16 per 127.0.0.x address) × 32 `subscribe_events`
 *   streams each, not reading, while one job prints 20,000 lines: the
 *   server's RSS (baseline, peak, 3 s after the attackers closed) and a
 *   healthy subscribed client's `devices/list` round trips.
 * - 50,000 YAML files: time to listen, and whether a subscribed client gets
 *   the whole fleet without being dropped.
 */
import { describe, expect, it } from 'vitest';
import { cleanupTempDirs } from '../test/helpers/fs-fixtures.js';
import { ms } from '../test/helpers/load.js';
import { bigFleetLoad } from '../test/helpers/big-fleet.js';
import { mb, wsAttack } from '../test/helpers/ws-attack.js';

describe('resource attack across sockets', () => {
  for (const sockets of [150, 300]) {
    it(`${sockets} sockets × 32 streams, not reading, plus a 20,000-line job`, async () => {
      const report = await wsAttack({ sockets, streamsPerSocket: 32, lines: 20_000, perAddress: 16 });
      console.info(
        `attack ${sockets}×32 + 20k lines: accepted ${report.accepted} (refused http ${report.refusedHttp}, close ${report.refusedClose}), streams ${report.streamsOpened}; ` +
          `RSS ${mb(report.rssBaseline)} → peak ${mb(report.rssPeak)} → after close ${mb(report.rssAfterClose)}; ` +
          `round trips ${report.roundTrip.count}: p50 ${ms(report.roundTrip.p50)}, p99 ${ms(report.roundTrip.p99)}, max ${ms(report.roundTrip.max)}; ` +
          `healthy ${JSON.stringify(report.healthy)}; dropped ${report.dropped}; job ${ms(report.jobMs)}`,
      );
      expect(report.healthy.lines).toBe(20_000);
      expect(report.healthy.closeCode).toBeNull();
    });
  }
});

describe('big fleets', () => {
  for (const chunked of [false, true]) {
    it(`50,000 YAML files: listens, and a subscriber (${chunked ? 'chunked, as the page' : 'legacy, no args'}) gets every device`, async () => {
      try {
        const report = await bigFleetLoad({ devices: 50_000, chunked, timeoutMs: 300_000 });
        console.info(`big fleet 50k ${chunked ? 'chunked' : 'legacy'}: ${JSON.stringify(report)}`);
        expect(report.devicesReceived).toBe(50_000);
        expect(report.closeCode).toBeNull();
      } finally {
        cleanupTempDirs();
      }
    });
  }

  it('three YAMLs with 3.9 MB comments (legacy subscribe)', async () => {
    try {
      const report = await bigFleetLoad({ devices: 3, bigComments: 3, commentBytes: 3_900_000 });
      console.info(`big comments: ${JSON.stringify(report)}`);
      expect(report.devicesReceived).toBe(3);
      expect(report.closeCode).toBeNull();
    } finally {
      cleanupTempDirs();
    }
  });
});
