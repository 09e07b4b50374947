/**
 * Firmware jobs as the server reports them and the page shows them. Shared
 * so the job model has one definition on both sides of the socket.
 */
export const JOB_TYPES = ['compile', 'upload', 'install', 'clean', 'reset_build_env'] as const;
export type JobType = (typeof JOB_TYPES)[number];

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface FirmwareJob {
  job_id: string;
  /** The YAML file name; the config dir's own name for reset_build_env, which spans the fleet. */
  configuration: string;
  job_type: JobType;
  status: JobStatus;
  /** Unix seconds (fractional), like the Python Device Builder's timestamps. */
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  exit_code: number | null;
  /** Serial port or OTA address for upload/install, when given. */
  port: string | null;
  /** Last lines of merged stdout/stderr, bounded; ANSI escapes kept. */
  output: string[];
  /** Why the job failed or was cancelled, in words a user can act on. */
  error: string | null;
}

/** A job without its output, as lists and status events carry it. */
export type FirmwareJobSummary = Omit<FirmwareJob, 'output'>;

export function isFinished(status: JobStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** The job queue's events; defined with every other event in events.ts. */
export type { JobEvent, JobFinishedEvent } from './events.js';
