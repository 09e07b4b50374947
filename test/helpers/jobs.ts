/**
 * What the job tests share: a finished compile's summary (each test
 * overrides what it is about), and whether a process is gone.
 */
import type { FirmwareJobSummary } from '../../src/shared/jobs.js';

/** A completed compile of kitchen.yaml with fixed times. */
export function jobSummary(overrides: Partial<FirmwareJobSummary> = {}): FirmwareJobSummary {
  return {
    job_id: 'job-1',
    configuration: 'kitchen.yaml',
    job_type: 'compile',
    status: 'completed',
    created_at: 1714900000.5,
    started_at: 1714900001,
    completed_at: 1714900010,
    exit_code: 0,
    port: null,
    error: null,
    ...overrides,
  };
}

/** Whether no process has this pid any more (signal 0 probes without sending). */
export function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
