/**
 * The server's reclaim (issue 14): the saved policy, the previews a user can
 * run by id, the one run at a time, the triggers, and the events. The core
 * (units, policy, plan, runner, store) is pure or port-driven and knows
 * nothing of the server; this module wires it to the real system:
 *
 * - a device step is `esphome clean` queued on the firmware {@link JobQueue}
 *   (so it shows in Jobs, can be cancelled, is logged) and awaited to its
 *   end; an abort cancels the job;
 * - an unused folder is deleted through {@link OrphanBuilds.delete}, which
 *   rescans, asks the delete guard and removes the tree without crossing a
 *   link;
 * - "did it change since the preview" is the freshness pair, read by the walk
 *   pool's workers (two stats, off the event loop);
 * - "what did it free" asks the refresher for that folder and waits for it.
 *
 * {@link systemPorts} is that wiring alone, shared with the CLI
 * (commands/reclaim.ts), so `device-builder reclaim --yes` runs exactly the
 * server's steps.
 *
 * Previews are kept by id (10 minutes, at most 20) so `reclaim/run {plan_id}`
 * runs exactly the plan the user looked at; the runner re-checks each step
 * just before it runs. The triggers: "Run now", a schedule (every
 * `schedule_hours` while `enabled`, counted from the last scheduled run or
 * the policy's save), and the free-space rule, looked at after every
 * stat-only sweep (the server calls {@link ReclaimService.checkFreeSpace}),
 * with a cooldown after a free-space run so a clean that did not help cannot
 * loop.
 */
import { promises as fsp } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { deviceCachedSignal, type SignalsFn } from '../build-size/build-size.js';
import { NO_SIGNAL } from '../build-size/freshness.js';
import type { EventBus } from '../events/event-bus.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import { ORPHAN_SOURCE, type OrphanBuilds } from '../orphans/orphan-builds.js';
import type { BuildSizeRefresher } from '../refresher/build-size-refresher.js';
import { coerceSidecarInt } from '../sidecar/coerce.js';
import type { Device } from '../shared/device.js';
import {
  DEFAULT_RECLAIM_POLICY,
  thresholdBytes,
  type DiskSpace,
  type ReclaimPlan,
  type ReclaimPolicy,
  type ReclaimPolicyInput,
  type ReclaimRun,
  type ReclaimState,
  type ReclaimTrigger,
} from '../shared/reclaim.js';
import { formatBytes } from '../shared/format.js';
import type { Logger } from '../util/log.js';
import { gatherPlanInputs, orphanCachedPair, signalPair } from './plan-inputs.js';
import { planReclaim, type PlanInputs } from './plan.js';
import { describePolicy, isPolicyActive, parsePolicyInput } from './policy.js';
import { ReclaimBusyError, ReclaimRunner, type ReclaimPorts } from './reclaim-runner.js';
import { RECLAIM_STATE_FILE, ReclaimStore } from './reclaim-store.js';

/** Previews kept for `reclaim/run {plan_id}`: this long, and at most this many (oldest dropped). */
export const PLAN_TTL_MS = 10 * 60_000;
export const MAX_KEPT_PLANS = 20;
/** After a free-space run, the rule waits this long before it may run again. */
export const FREE_SPACE_COOLDOWN_MS = 10 * 60_000;
/** setTimeout's limit; a longer schedule is re-armed when this fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `reclaim/run {plan_id}` with an id we do not (or no longer) hold. */
export class UnknownPlanError extends Error {
  constructor(planId: string) {
    super(`no preview ${planId} (previews are kept for 10 minutes); preview again and run that`);
    this.name = 'UnknownPlanError';
  }
}

/** What the ports act on: the same parts in `serve` and the CLI. */
export interface SystemPortDeps {
  jobs: JobQueue;
  orphans: OrphanBuilds;
  refresher: BuildSizeRefresher;
  store: MetadataStore;
  /** The walk pool's two-stat read (`WalkPool.signals`). */
  signals: SignalsFn;
  /** A device's build folder now: null when it has none, undefined when the device is gone. */
  buildPathOf: (configuration: string) => Promise<string | null | undefined>;
}

async function folderExists(dir: string): Promise<boolean> {
  return fsp.lstat(dir).then(
    () => true,
    () => false,
  );
}

/** The runner's ports wired to the real system (see the module header). */
export function systemPorts(deps: SystemPortDeps): ReclaimPorts {
  const { jobs, orphans, refresher, store } = deps;
  return {
    currentSignal: async (buildPath) => signalPair((await deps.signals([buildPath]))[0] ?? NO_SIGNAL),
    deviceState: async (configuration) => {
      const buildPath = await deps.buildPathOf(configuration);
      return buildPath === undefined ? null : { build_path: buildPath, busy: jobs.activeJobFor(configuration) !== undefined };
    },
    isStillUnused: async (buildPath) => (await orphans.rescan()).includes(buildPath),
    cleanDevice: async (configuration, signal) => {
      // Synchronous from the runner's busy check to here: no job can slip in between.
      const job = jobs.enqueue('clean', configuration);
      const cancel = (): void => {
        jobs.cancel(job.job_id);
      };
      signal.addEventListener('abort', cancel, { once: true });
      try {
        const final = await jobs.waitFor(job.job_id);
        const ok = final?.status === 'completed';
        return ok ? { ok, job_id: job.job_id } : { ok, job_id: job.job_id, error: final?.error ?? `the clean job was ${final?.status ?? 'lost'}` };
      } finally {
        signal.removeEventListener('abort', cancel);
      }
    },
    deleteUnused: async (buildPath) => {
      await orphans.delete(buildPath);
    },
    measureAfter: async (step) => {
      if (step.kind === 'unused') {
        refresher.requestSweep([ORPHAN_SOURCE]);
        await refresher.whenIdle();
        return (await folderExists(step.build_path)) ? null : 0;
      }
      if (!step.configuration) return null;
      refresher.requestReport(step.configuration);
      await refresher.whenIdle();
      const entry = await store.readDevice(step.configuration);
      return coerceSidecarInt(entry['build_size_bytes']);
    },
  };
}

/** The plan's inputs from the real system: the devices given, the unused folders and the cached pairs (no walk; see plan-inputs.ts). */
export async function systemPlanInputs(
  deps: Pick<SystemPortDeps, 'orphans' | 'store' | 'signals'> & { jobs: Pick<JobQueue, 'activeJobFor'> },
  devices: readonly Device[],
  disk: DiskSpace | null,
  now: number,
): Promise<PlanInputs> {
  const [orphans, snapshot] = await Promise.all([deps.orphans.list(), deps.store.read()]);
  return gatherPlanInputs(
    {
      devices,
      orphans,
      isBusy: (configuration) => deps.jobs.activeJobFor(configuration) !== undefined,
      signals: deps.signals,
      cachedSignalOf: (configuration) => signalPair(deviceCachedSignal(snapshot, configuration)),
      orphanSignalOf: (buildPath) => orphanCachedPair(snapshot, buildPath),
    },
    disk,
    now,
  );
}

export interface ReclaimServiceOptions extends SystemPortDeps {
  configDir: string;
  dataDir: string;
  bus: EventBus;
  logger: Logger;
  /** The devices as the server knows them (the catalog). */
  devices: () => readonly Device[];
  /** Reads the data dir's file system (the server's reader, which also publishes `disk_updated`). */
  readDisk: () => Promise<DiskSpace | null>;
  /** Resolves once the devices are known and measured (the server: first scan, then the refresher idle); automatic runs wait for it. */
  whenReady?: () => Promise<void>;
  /** Where policy and runs are kept (default: `<data>/.device-builder-ts-reclaim.json`). */
  reclaimStore?: ReclaimStore;
  /** Unix ms now (tests move time). */
  now?: () => number;
}

interface KeptPlan {
  plan: ReclaimPlan;
  keptAt: number;
}

export class ReclaimService {
  private readonly store: ReclaimStore;
  private readonly runner: ReclaimRunner;
  private readonly plans = new Map<string, KeptPlan>();
  private readonly runFinishedListeners = new Set<(run: ReclaimRun) => void>();
  private readonly now: () => number;
  private policy!: ReclaimPolicy;
  /** Unix seconds the policy was last saved, or this process started (the schedule counts from it until a scheduled run happened). */
  private policySavedAt = 0;
  private lastScheduledRunAt: number | null = null;
  private nextRunAt: number | null = null;
  private scheduleTimer: NodeJS.Timeout | null = null;
  private freeSpaceCooldownUntil = 0;
  private readonly abort = new AbortController();
  private currentRun: Promise<ReclaimRun> | null = null;
  /** Resolves `runNow`'s answer when its run has started. */
  private startedWaiter: ((run: ReclaimRun) => void) | null = null;
  private closed = false;

  constructor(private readonly options: ReclaimServiceOptions) {
    this.now = options.now ?? Date.now;
    this.store = options.reclaimStore ?? new ReclaimStore({ dataDir: options.dataDir, logger: options.logger });
    this.runner = new ReclaimRunner({
      ports: systemPorts(options),
      now: () => Math.floor(this.now() / 1000),
      store: this.store,
      logger: options.logger,
      onStarted: (run) => {
        options.bus.publish({ event: 'reclaim_started', data: run });
        this.startedWaiter?.(run);
      },
      onProgress: (progress) => options.bus.publish({ event: 'reclaim_progress', data: progress }),
      onFinished: (run) => options.bus.publish({ event: 'reclaim_finished', data: run }),
    });
  }

  /**
   * Marks a run the last process left unfinished as interrupted, loads the
   * policy, arms the schedule. Without a record file (nothing saved or run
   * yet) nothing is read or written: the policy is the default (off). Any
   * other failure to read the record is logged and leaves the policy off;
   * the server still starts.
   */
  async start(): Promise<void> {
    this.policy = { ...DEFAULT_RECLAIM_POLICY };
    if (await folderExists(path.join(this.options.dataDir, RECLAIM_STATE_FILE))) {
      try {
        await this.store.markInterrupted();
        this.policy = await this.store.readPolicy();
        const runs = await this.store.listRuns();
        this.lastScheduledRunAt = runs.find((run) => run.trigger === 'schedule')?.started_at ?? null;
      } catch (err) {
        this.options.logger.error({ err }, 'could not read the reclaim record; the policy is off until it is saved again');
      }
    }
    // The store keeps no save time: the schedule counts from the last scheduled run, or from this start.
    this.policySavedAt = this.lastScheduledRunAt ?? this.nowSeconds();
    this.arm();
  }

  /** Stops the schedule and aborts a run in progress (its device job is cancelled); waits for it to end. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.scheduleTimer) clearTimeout(this.scheduleTimer);
    this.abort.abort();
    await this.currentRun?.catch(() => undefined);
  }

  /** What `reclaim/get_policy` answers and `reclaim_policy_updated` carries. */
  state(): ReclaimState {
    return { policy: this.policy, running: this.runner.running, next_run_at: this.nextRunAt };
  }

  /** The saved policy. */
  get savedPolicy(): ReclaimPolicy {
    return this.policy;
  }

  /** Called with every finished run (after it is recorded and published). */
  onRunFinished(listener: (run: ReclaimRun) => void): () => void {
    this.runFinishedListeners.add(listener);
    return () => this.runFinishedListeners.delete(listener);
  }

  /** Parses and saves a policy (unset fields keep their saved values); a bad value throws `ReclaimInputError` and saves nothing. */
  async setPolicy(input: ReclaimPolicyInput): Promise<ReclaimState> {
    const policy = parsePolicyInput(input, this.policy);
    // ESPHome creates its data dir on the first compile; a policy may be saved before that.
    await fsp.mkdir(this.options.dataDir, { recursive: true });
    await this.store.writePolicy(policy);
    this.policy = policy;
    this.policySavedAt = this.nowSeconds();
    this.arm();
    const state = this.state();
    this.options.bus.publish({ event: 'reclaim_policy_updated', data: state });
    this.options.logger.info({ policy }, `reclaim policy saved: ${describePolicy(policy)}`);
    return state;
  }

  /** The plan for the saved policy, or for a draft (parsed, not saved); kept by its id for `runNow`. */
  async preview(input?: ReclaimPolicyInput): Promise<ReclaimPlan> {
    const policy = input ? parsePolicyInput(input, this.policy) : this.policy;
    const plan = await this.plan(policy);
    this.keep(plan);
    return plan;
  }

  /**
   * "Run now": exactly the previewed plan when `planId` is given (unknown or
   * expired: {@link UnknownPlanError}), else a fresh plan of the saved
   * policy. Answers once the run has started (its record, `running`);
   * progress and the end arrive as events. `ReclaimBusyError` while another
   * run is in progress.
   */
  async runNow(planId?: string): Promise<ReclaimRun> {
    this.requireIdle();
    let plan: ReclaimPlan;
    if (planId !== undefined) {
      const kept = this.keptPlan(planId);
      if (!kept) throw new UnknownPlanError(planId);
      plan = kept;
    } else {
      plan = await this.plan(this.policy);
    }
    return this.startRun(plan, 'manual', `run now: ${describePolicy(plan.policy)}`);
  }

  /** Every recorded run, newest first (none while the data dir does not exist). */
  async history(): Promise<ReclaimRun[]> {
    return (await folderExists(this.options.dataDir)) ? this.store.listRuns() : [];
  }

  /** Resolves when the run in progress (if any) has ended. */
  async whenIdle(): Promise<void> {
    await this.currentRun?.catch(() => undefined);
  }

  /**
   * The free-space rule, after a stat-only sweep: runs the saved policy when
   * it is enabled, has a free-space threshold, the disk is below it, no run
   * is in progress, the last free-space run is over ten minutes ago, and the
   * plan has something to do. Returns the run it started, if any.
   */
  async checkFreeSpace(disk: DiskSpace | null): Promise<ReclaimRun | null> {
    const policy = this.policy;
    if (this.closed || !disk || !policy.enabled || !policy.min_free || this.runner.running || this.currentRun) return null;
    if (this.now() < this.freeSpaceCooldownUntil) return null;
    const threshold = thresholdBytes(policy.min_free, disk.total_bytes);
    if (disk.free_bytes >= threshold) return null;
    const plan = await this.plan(policy);
    if (plan.steps.length === 0 || this.runner.running || this.currentRun) return null;
    this.freeSpaceCooldownUntil = this.now() + FREE_SPACE_COOLDOWN_MS;
    const reason = `free space ${formatBytes(disk.free_bytes)} below ${formatBytes(threshold)}: ${describePolicy(policy)}`;
    return this.startRun(plan, 'free_space', reason);
  }

  /** The runner's own refusal (`busy` on the wire) while a run is in progress or being planned. */
  private requireIdle(): void {
    if (this.currentRun || this.runner.running) throw new ReclaimBusyError(this.runner.running?.run_id ?? 'starting');
  }

  private async plan(policy: ReclaimPolicy): Promise<ReclaimPlan> {
    const disk = await this.options.readDisk();
    const inputs = await systemPlanInputs(this.options, this.options.devices(), disk, this.nowSeconds());
    return planReclaim(policy, inputs, randomUUID());
  }

  private keep(plan: ReclaimPlan): void {
    const now = this.now();
    for (const [id, kept] of this.plans) if (now - kept.keptAt > PLAN_TTL_MS) this.plans.delete(id);
    this.plans.set(plan.plan_id, { plan, keptAt: now });
    // A Map iterates in insertion order: the first keys are the oldest.
    while (this.plans.size > MAX_KEPT_PLANS) {
      const oldest = this.plans.keys().next().value;
      if (oldest === undefined) break;
      this.plans.delete(oldest);
    }
  }

  private keptPlan(planId: string): ReclaimPlan | null {
    const kept = this.plans.get(planId);
    if (!kept) return null;
    if (this.now() - kept.keptAt > PLAN_TTL_MS) {
      this.plans.delete(planId);
      return null;
    }
    return kept.plan;
  }

  /**
   * Starts the runner on `plan`; resolves with the run's record once it has
   * started (the rest continues in the background). After it ends: the disk
   * is read again and the run handed to {@link onRunFinished}'s listeners.
   */
  private startRun(plan: ReclaimPlan, trigger: ReclaimTrigger, reason: string): Promise<ReclaimRun> {
    // Planning awaited: another trigger may have started a run meanwhile.
    this.requireIdle();
    return new Promise<ReclaimRun>((resolve, reject) => {
      this.startedWaiter = resolve;
      const done = this.runner.run(plan, trigger, reason, this.abort.signal);
      this.currentRun = done;
      done
        .then(async (run) => {
          resolve(run);
          await this.options.readDisk().catch(() => null);
          for (const listener of this.runFinishedListeners) {
            try {
              listener(run);
            } catch (err) {
              this.options.logger.error({ err }, 'a reclaim run listener failed');
            }
          }
        })
        .catch((err: unknown) => {
          reject(err);
          this.options.logger.error({ err, trigger }, 'a reclaim run failed');
        })
        .finally(() => {
          if (this.startedWaiter === resolve) this.startedWaiter = null;
          if (this.currentRun === done) this.currentRun = null;
        });
    });
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** (Re)arms the schedule from the policy: every `schedule_hours` while enabled, from the last scheduled run or the save. */
  private arm(): void {
    if (this.scheduleTimer) clearTimeout(this.scheduleTimer);
    this.scheduleTimer = null;
    const { enabled, schedule_hours: hours } = this.policy;
    if (this.closed || !enabled || !hours || !isPolicyActive(this.policy)) {
      this.nextRunAt = null;
      return;
    }
    const from = Math.max(this.lastScheduledRunAt ?? 0, this.policySavedAt);
    this.nextRunAt = from + Math.round(hours * 3600);
    const delay = Math.max(0, this.nextRunAt * 1000 - this.now());
    this.scheduleTimer = setTimeout(() => void this.onSchedule(), Math.min(delay, MAX_TIMER_MS));
    this.scheduleTimer.unref();
  }

  private async onSchedule(): Promise<void> {
    this.scheduleTimer = null;
    if (this.closed) return;
    if (this.nextRunAt !== null && this.now() < this.nextRunAt * 1000) {
      this.arm(); // a schedule longer than setTimeout's limit
      return;
    }
    try {
      if (this.runner.running || this.currentRun) {
        this.options.logger.info('scheduled reclaim skipped: another run is in progress');
      } else {
        // Figures first: at start-up the first scan and sweep may still be running.
        await (this.options.whenReady?.() ?? this.options.refresher.whenIdle());
        const plan = await this.plan(this.policy);
        this.lastScheduledRunAt = this.nowSeconds();
        if (plan.steps.length > 0) await this.startRun(plan, 'schedule', `schedule (every ${this.policy.schedule_hours} h): ${describePolicy(plan.policy)}`);
        else this.options.logger.info('scheduled reclaim: nothing to do');
      }
    } catch (err) {
      this.options.logger.error({ err }, 'scheduled reclaim failed');
    }
    this.lastScheduledRunAt ??= this.nowSeconds();
    this.arm();
    this.options.bus.publish({ event: 'reclaim_policy_updated', data: this.state() });
  }
}
