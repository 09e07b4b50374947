/**
 * Firmware commands over the socket where the job split shows: error codes
 * that say what happened (`shutting_down`, `conflict`, `busy`; clients that
 * only know the old codes still get a code and `details`), and job output
 * read back from its log file by a restarted server (`firmware/follow_job`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIRMWARE_JOBS_KEY, JOB_LOG_DIR } from '../../src/jobs/job-queue.js';
import { OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import type { FirmwareJobSummary } from '../../src/shared/jobs.js';
import { ERROR_CODES } from '../../src/shared/protocol.js';
import { cleanupTempDirs, makeTempDir, readJson, writeFile } from '../helpers/fs-fixtures.js';
import { startServer, stopServers } from '../helpers/server-fixture.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

function configWith(...names: string[]): string {
  const dir = makeTempDir();
  for (const name of names) writeFile(path.join(dir, `${name}.yaml`), `esphome:\n  name: ${name}\nesp32:\n  board: esp32dev\n`);
  return dir;
}

describe('firmware error codes', () => {
  it('lists the new codes', () => {
    expect(ERROR_CODES).toEqual(expect.arrayContaining(['busy', 'shutting_down', 'conflict', 'invalid_args']));
  });

  it('a server that stopped accepting jobs answers shutting_down, with details, for single and reset jobs', async () => {
    const dir = configWith('kitchen');
    const running = await startServer(dir);
    const client = await running.connect();
    running.server.jobs.stopAccepting();
    for (const [command, args] of [
      ['firmware/compile', { configuration: 'kitchen.yaml' }],
      ['firmware/reset_build_env', {}],
    ] as const) {
      const refused = await client.request(command, args);
      expect(refused.error_code, command).toBe('shutting_down');
      expect(refused.details).toMatch(/shutting down/);
    }
    // Bulk commands report it per device, as any other failure.
    const bulk = await client.call<{ success: boolean; error?: string }[]>('firmware/compile_bulk', { configurations: ['kitchen.yaml'] });
    expect(bulk).toEqual([{ configuration: 'kitchen.yaml', success: false, error: expect.stringMatching(/shutting down/) }]);
  });

  it('archiving over an existing archived YAML answers conflict (was invalid_args)', async () => {
    const dir = configWith('kitchen');
    writeFile(path.join(dir, 'archive', 'kitchen.yaml'), 'esphome:\n  name: old\n');
    const running = await startServer(dir);
    const client = await running.connect();
    const refused = await client.request('devices/archive', { configuration: 'kitchen.yaml' });
    expect(refused.error_code).toBe('conflict');
    expect(refused.details).toMatch(/already exists/);
    expect(fs.existsSync(path.join(dir, 'kitchen.yaml'))).toBe(true);
  });
});

describe('job output after a restart', () => {
  it('follow_job on a restarted server replays the output from the log file; the history file holds metadata only', async () => {
    const dir = configWith('kitchen');
    const first = await startServer(dir);
    const client = await first.connect();
    await client.call('subscribe_events');
    const job = await client.call<FirmwareJobSummary>('firmware/compile', { configuration: 'kitchen.yaml' });
    await client.waitForEvent('job_completed', (data: FirmwareJobSummary) => data.job_id === job.job_id);
    const output = first.server.jobs.get(job.job_id)?.output ?? [];
    expect(output.some((l) => l.includes('Successfully compiled'))).toBe(true);
    const dataDir = first.server.dataDir;
    await first.close();

    const stored = (readJson(path.join(dataDir, OWN_STATE_FILE)) as Record<string, unknown>)[FIRMWARE_JOBS_KEY] as Record<string, unknown>[];
    expect(stored.map((j) => j['job_id'])).toEqual([job.job_id]);
    expect(stored[0]).not.toHaveProperty('output');
    expect(fs.existsSync(path.join(dataDir, JOB_LOG_DIR, `${job.job_id}.log`))).toBe(true);

    const second = await startServer(dir);
    const again = await second.connect();
    const jobs = await again.call<FirmwareJobSummary[]>('firmware/get_jobs');
    expect(jobs.map((j) => [j.job_id, j.status])).toEqual([[job.job_id, 'completed']]);
    const followed = await again.call<{ job: FirmwareJobSummary; history: string[] }>('firmware/follow_job', { job_id: job.job_id });
    expect(followed.job).toMatchObject({ job_id: job.job_id, status: 'completed' });
    expect(followed.history).toEqual(output);
  });
});
