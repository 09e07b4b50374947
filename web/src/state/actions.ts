/**
 * What the user can do, in one place: start and cancel jobs, archive,
 * delete, bulk operations, unused build folders, the PlatformIO cache, the
 * fleet-wide reset and the reclaim policy (preview, save, run, history). Each action talks to the server, reports the
 * outcome as a toast (per device for bulk actions) and, for jobs started
 * here, toasts the job's end with its error in words ("esphome CLI not
 * found"). Components call these and stay presentational.
 */
import type { Device } from '../../../src/shared/device.js';
import { formatBytes } from '../../../src/shared/format.js';
import { isFinished, type FirmwareJobSummary, type JobType } from '../../../src/shared/jobs.js';
import type { ArchivedDevice, BulkResult, OrphanBuild } from '../../../src/shared/protocol.js';
import type { ReclaimPlan, ReclaimPolicyInput, ReclaimRun, ReclaimState } from '../../../src/shared/reclaim.js';
import { RequestError, type ApiClient } from '../api/client.js';
import { fieldError, RULE_LABELS, stepName, type FieldError } from './reclaim-model.js';
import type { ConfirmOptions } from './context.js';
import type { Store } from './store.js';
import { splitPath } from './storage-model.js';
import { displayName } from './table-model.js';
import type { Toasts } from './toasts.js';

export type BulkKind = 'clean' | 'compile' | 'archive' | 'delete';

export const JOB_LABELS: Record<JobType, string> = {
  compile: 'Compile',
  upload: 'Upload',
  install: 'Install',
  clean: 'Clean',
  reset_build_env: 'Reset build environment',
};

const DONE: Record<JobType, (name: string) => string> = {
  compile: (name) => `Compiled ${name}`,
  upload: (name) => `Uploaded to ${name}`,
  install: (name) => `Installed on ${name}`,
  clean: (name) => `Cleaned the build files of ${name}`,
  reset_build_env: () => 'Reset the build environment',
};

/** A reclaim request's answer, or why not: an error to show next to a field (`invalid_args` naming one), else a message. */
export type ReclaimOutcome<T> = { ok: true; value: T } | { ok: false; field: FieldError | null; message: string };

export interface ActionsOptions {
  openLog: (jobId: string) => void;
}

export class Actions {
  /** Jobs started from this page: their end is toasted. */
  private readonly tracked = new Set<string>();
  /** Reclaim runs started from this page: their end is toasted. */
  private readonly trackedRuns = new Set<string>();

  constructor(
    private readonly client: ApiClient,
    private readonly store: Store,
    private readonly toasts: Toasts,
    private readonly options: ActionsOptions,
  ) {
    store.onJobFinished((job) => this.jobFinished(job));
    store.onReclaimFinished((run) => this.reclaimFinished(run));
  }

  /** The name a person knows a device by. */
  nameOf(configuration: string): string {
    const device = this.store.devices.get(configuration);
    return device ? displayName(device) : configuration;
  }

  /** What a job is about: a device's name, or "All devices" for the fleet-wide reset. */
  subjectOf(job: Pick<FirmwareJobSummary, 'job_type' | 'configuration'>): string {
    return job.job_type === 'reset_build_env' ? 'All devices' : this.nameOf(job.configuration);
  }

  /** The queued or running reset, if any. */
  get activeReset(): FirmwareJobSummary | undefined {
    for (const job of this.store.jobs.values()) {
      if (job.job_type === 'reset_build_env' && !isFinished(job.status)) return job;
    }
    return undefined;
  }

  /** Starts a job for one device and (by default) opens its live log. */
  async startJob(
    type: 'compile' | 'install' | 'clean' | 'upload',
    configuration: string,
    options: { openLog?: boolean } = {},
  ): Promise<FirmwareJobSummary | null> {
    try {
      const command = `firmware/${type}` as const;
      const job = await this.client.request(command, { configuration });
      this.track(job);
      if (options.openLog ?? true) this.options.openLog(job.job_id);
      return job;
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `${JOB_LABELS[type]} of ${this.nameOf(configuration)} could not start: ${messageOf(err)}` });
      return null;
    }
  }

  async cancelJob(job: FirmwareJobSummary): Promise<void> {
    try {
      await this.client.request('firmware/cancel', { job_id: job.job_id });
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not stop the job: ${messageOf(err)}` });
    }
  }

  /** Drops finished jobs; the list follows from the `jobs_cleared` event. */
  async clearFinishedJobs(): Promise<void> {
    try {
      await this.client.request('firmware/clear', {});
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not clear the job list: ${messageOf(err)}` });
    }
  }

  async archive(configuration: string): Promise<boolean> {
    const name = this.nameOf(configuration);
    try {
      await this.client.request('devices/archive', { configuration });
      this.toasts.show({ kind: 'success', message: `Archived ${name}` });
      return true;
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not archive ${name}: ${messageOf(err)}` });
      return false;
    }
  }

  async deleteDevice(configuration: string): Promise<boolean> {
    const name = this.nameOf(configuration);
    try {
      await this.client.request('devices/delete', { configuration });
      this.toasts.show({ kind: 'success', message: `Deleted ${name}` });
      return true;
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not delete ${name}: ${messageOf(err)}` });
      return false;
    }
  }

  listArchived(): Promise<ArchivedDevice[]> {
    return this.client.request('devices/list_archived', {});
  }

  async unarchive(device: ArchivedDevice): Promise<boolean> {
    const name = device.friendly_name || device.name || device.configuration;
    try {
      await this.client.request('devices/unarchive', { configuration: device.configuration });
      this.toasts.show({ kind: 'success', message: `Restored ${name}` });
      return true;
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not restore ${name}: ${messageOf(err)}` });
      return false;
    }
  }

  async deleteArchived(device: ArchivedDevice): Promise<boolean> {
    const name = device.friendly_name || device.name || device.configuration;
    try {
      await this.client.request('devices/delete_archived', { configuration: device.configuration });
      this.toasts.show({ kind: 'success', message: `Deleted ${name} permanently` });
      return true;
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not delete ${name}: ${messageOf(err)}` });
      return false;
    }
  }

  /** Runs one action on several devices (one request) and reports each outcome. */
  async bulk(kind: BulkKind, configurations: string[]): Promise<BulkResult[]> {
    let results: BulkResult[];
    try {
      results = await this.client.request(BULK_COMMANDS[kind], { configurations });
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `${BULK_LABELS[kind]} failed: ${messageOf(err)}` });
      return [];
    }
    for (const result of results) {
      if (result.success && result.job_id) this.tracked.add(result.job_id);
    }
    this.reportBulk(kind, results);
    return results;
  }

  /** The bytes a clean of these devices would free at most (their current build size). */
  sizeOf(configurations: readonly string[]): number {
    return configurations.reduce((sum, c) => sum + (this.store.devices.get(c)?.build_size_bytes ?? 0), 0);
  }

  /** Deletes one unused build folder; the list follows from `orphans_updated`. */
  async deleteOrphan(orphan: OrphanBuild): Promise<boolean> {
    const { name } = splitPath(orphan.build_path);
    try {
      await this.client.request('builds/delete_orphan', { build_path: orphan.build_path });
      const freed = orphan.build_size_bytes > 0 ? ` (${formatBytes(orphan.build_size_bytes)} freed)` : '';
      this.toasts.show({ kind: 'success', message: `Deleted the unused build folder ${name}${freed}` });
      // The server sends orphans_updated too; dropping it here keeps the row from lingering.
      this.store.applyEvent('orphans_updated', { orphans: this.store.orphans.filter((o) => o.build_path !== orphan.build_path) });
      return true;
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not delete ${name}: ${messageOf(err)}` });
      return false;
    }
  }

  /** Asks the server to look for unused build folders again; it answers with the list once done. */
  async rescanOrphans(): Promise<void> {
    try {
      const orphans = await this.client.request('builds/rescan', {});
      this.store.applyEvent('orphans_updated', { orphans });
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not look for unused build folders: ${messageOf(err)}` });
    }
  }

  /**
   * Re-measures the PlatformIO folder (forced: files added deep inside a part
   * do not move the part's own mtime). Progress arrives as events while it
   * walks; the server answers with the fresh summary once done.
   */
  async refreshPlatformio(): Promise<void> {
    try {
      const summary = await this.client.request('platformio/refresh', { force: true });
      this.store.applyEvent('platformio_updated', summary);
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `Could not refresh the PlatformIO sizes: ${messageOf(err)}` });
    }
  }

  /** Queues `esphome clean-all` for the whole data dir and opens its log. */
  async resetBuildEnv(): Promise<FirmwareJobSummary | null> {
    try {
      const job = await this.client.request('firmware/reset_build_env', {});
      this.track(job);
      this.options.openLog(job.job_id);
      return job;
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `The reset could not start: ${messageOf(err)}` });
      return null;
    }
  }

  /**
   * The plan for a draft policy (not saved), from the server's cached
   * figures. No toast: the panel previews as the user types, and shows a
   * refusal next to the field it names.
   */
  previewReclaim(policy: ReclaimPolicyInput): Promise<ReclaimOutcome<ReclaimPlan>> {
    return outcome(this.client.request('reclaim/preview', { policy }));
  }

  /** Saves the policy; the store follows from the answer (and the `reclaim_policy_updated` event). */
  async saveReclaimPolicy(policy: ReclaimPolicyInput): Promise<ReclaimOutcome<ReclaimState>> {
    const result = await outcome(this.client.request('reclaim/set_policy', { policy }));
    if (result.ok) {
      this.store.applyEvent('reclaim_policy_updated', result.value);
      this.toasts.show({ kind: 'success', message: 'Saved the reclaim policy' });
    } else if (!result.field) {
      this.toasts.show({ kind: 'error', message: `Could not save the reclaim policy: ${result.message}` });
    }
    return result;
  }

  /** Reads the earlier runs into the store (newest first). */
  async loadReclaimHistory(): Promise<void> {
    try {
      this.store.setReclaimRuns(await this.client.request('reclaim/history', {}));
    } catch (err) {
      if (!(err instanceof RequestError && (err.code === 'disconnected' || err.code === 'offline'))) {
        this.toasts.show({ kind: 'error', message: `Could not load the reclaim history: ${messageOf(err)}` });
      }
    }
  }

  /** The confirmation "Run now" asks: the total, then each step with what it frees and why. */
  reclaimConfirmation(plan: ReclaimPlan): ConfirmOptions {
    const devices = plan.steps.filter((s) => s.kind === 'device').length;
    const folders = plan.steps.length - devices;
    const parts = [devices ? `cleans ${plural(devices, 'device build')}` : '', folders ? `deletes ${plural(folders, 'unused folder')}` : ''].filter(Boolean);
    return {
      title: 'Run the reclaim plan now?',
      message: `Frees ${formatBytes(plan.frees_bytes)} in all: ${parts.join(' and ')}. A device compiled since this preview is skipped.`,
      items: plan.steps.map((step) => `${stepName(step, (c) => this.nameOf(c))}: ${formatBytes(step.bytes)} (${RULE_LABELS[step.rule].toLowerCase()})`),
      confirmLabel: `Free ${formatBytes(plan.frees_bytes)}`,
      danger: true,
    };
  }

  /**
   * Runs exactly a previewed plan (by its id; the caller has confirmed);
   * progress and the end arrive as events, the end toasted.
   */
  async runReclaim(plan: ReclaimPlan): Promise<ReclaimRun | null> {
    if (plan.steps.length === 0) return null;
    try {
      const answered = await this.client.request('reclaim/run', { plan_id: plan.plan_id });
      // Its events may have come first (a short run can end before the answer): the store knows best.
      const run = this.store.reclaimRuns.find((r) => r.run_id === answered.run_id) ?? answered;
      if (run.finished_at !== null) {
        this.reclaimFinished(run, true);
      } else {
        this.trackedRuns.add(run.run_id);
        this.store.applyEvent('reclaim_started', run);
      }
      return run;
    } catch (err) {
      this.toasts.show({ kind: 'error', message: `The reclaim run could not start: ${messageOf(err)}` });
      return null;
    }
  }

  private reclaimFinished(run: ReclaimRun, force = false): void {
    if (!force && !this.trackedRuns.delete(run.run_id)) return;
    const steps = `${run.results.filter((r) => r.ok).length} of ${plural(run.steps.length, 'step')}`;
    const details = run.results
      .filter((r) => !r.ok)
      .map((r) => `✗ ${stepName({ kind: r.configuration ? 'device' : 'unused', ...r }, (c) => this.nameOf(c))}: ${r.error ?? 'failed'}`);
    if (run.status === 'completed') {
      this.toasts.show({ kind: 'success', message: `Reclaim freed ${formatBytes(run.freed_bytes)} (${steps})` });
    } else {
      this.toasts.show({
        kind: 'error',
        message: `Reclaim ${run.status === 'failed' ? 'failed' : `freed ${formatBytes(run.freed_bytes)}, ${steps} done`}`,
        details,
      });
    }
  }

  private reportBulk(kind: BulkKind, results: BulkResult[]): void {
    const ok = results.filter((r) => r.success);
    const failed = results.filter((r) => !r.success);
    const verb = BULK_DONE[kind];
    const details = results.map((r) => (r.success ? `✓ ${this.nameOf(r.configuration)}` : `✗ ${this.nameOf(r.configuration)}: ${r.error ?? 'failed'}`));
    if (failed.length === 0) {
      this.toasts.show({ kind: 'success', message: `${verb} ${plural(ok.length, 'device')}`, details });
    } else {
      this.toasts.show({
        kind: 'error',
        message: `${verb} ${ok.length} of ${plural(results.length, 'device')}; ${failed.length} failed`,
        details,
      });
    }
  }

  private track(job: FirmwareJobSummary): void {
    // The job may have ended before its result arrived (e.g. the CLI is missing).
    const known = this.store.jobs.get(job.job_id) ?? job;
    if (isFinished(known.status)) this.jobFinished(known, true);
    else this.tracked.add(job.job_id);
  }

  private jobFinished(job: FirmwareJobSummary, force = false): void {
    if (!force && !this.tracked.delete(job.job_id)) return;
    const fleet = job.job_type === 'reset_build_env';
    const name = fleet ? '' : this.nameOf(job.configuration);
    const what = fleet ? 'The reset of the build environment' : `${JOB_LABELS[job.job_type]} of ${name}`;
    const action = { label: 'Show log', run: () => this.options.openLog(job.job_id) };
    if (job.status === 'completed') {
      this.toasts.show({ kind: 'success', message: DONE[job.job_type](name), action });
    } else if (job.status === 'failed') {
      this.toasts.show({ kind: 'error', message: `${what} failed${job.error ? `: ${job.error}` : ''}`, action });
    } else {
      this.toasts.show({ kind: 'info', message: `${what} was stopped`, action });
    }
  }
}

const BULK_COMMANDS = {
  clean: 'firmware/clean_bulk',
  compile: 'firmware/compile_bulk',
  archive: 'devices/archive_bulk',
  delete: 'devices/delete_bulk',
} as const;

const BULK_LABELS: Record<BulkKind, string> = { clean: 'Clean', compile: 'Compile', archive: 'Archive', delete: 'Delete' };
const BULK_DONE: Record<BulkKind, string> = {
  clean: 'Started cleaning',
  compile: 'Queued compiles for',
  archive: 'Archived',
  delete: 'Deleted',
};

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** A request's result, or the refusal: a field error when `invalid_args` names a policy field. */
async function outcome<T>(request: Promise<T>): Promise<ReclaimOutcome<T>> {
  try {
    return { ok: true, value: await request };
  } catch (err) {
    const message = messageOf(err);
    const field = err instanceof RequestError && err.code === 'invalid_args' ? fieldError(message) : null;
    return { ok: false, field, message };
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** "Frees up to 212.4 MB" for a confirm dialog, or nothing when there is nothing to free. */
export function freesText(bytes: number): string {
  return bytes > 0 ? `Frees up to ${formatBytes(bytes)}.` : '';
}

export type { Device };
