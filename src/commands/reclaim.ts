/**
 * `device-builder reclaim`: the reclaim plan from the command line (issue
 * 14), computed by the same `planReclaim` the server and the page use, from
 * the same cached figures, and (only with `--yes`) run by the same runner
 * through the same ports: device cleans as `esphome clean` jobs on a
 * {@link JobQueue} writing the same job history as `serve` (so they show in
 * the page's Jobs later), unused folders through the delete guard, the run
 * recorded in the reclaim record with trigger `cli`.
 *
 * Before planning it brings the cached figures up to date the way `sizes`
 * does (the shared sizing system: two stats per folder, walks only what
 * moved), because the plan itself never walks.
 *
 * The rules come from the options, exactly those and not saved; or, with no
 * rule option, from the saved policy. A bad value is a {@link UsageError}
 * naming the option (`--max-total: "20 GBs" is not a size ...`), raised
 * before anything is read or written.
 */
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { WalkerChoice } from '../build-size/native-walker.js';
import { JobQueue } from '../jobs/job-queue.js';
import { readDiskSpace, type DiskSpaceReader } from '../reclaim/disk-space.js';
import { planReclaim } from '../reclaim/plan.js';
import { describePolicy, isPolicyActive, parsePolicyInput } from '../reclaim/policy.js';
import { systemPlanInputs, systemPorts } from '../reclaim/reclaim-service.js';
import { ReclaimRunner } from '../reclaim/reclaim-runner.js';
import { ReclaimStore } from '../reclaim/reclaim-store.js';
import { ReclaimInputError } from '../reclaim/units.js';
import type { Device } from '../shared/device.js';
import { formatBytes } from '../shared/format.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimPlan, type ReclaimPolicy, type ReclaimPolicyInput, type ReclaimRun } from '../shared/reclaim.js';
import { readStorageJson, resolvedBuildPath } from '../storage/storage-json.js';
import { resolveDataDir } from '../storage/data-dir.js';
import { createSizingSystem } from '../sizing-system.js';
import type { Logger } from '../util/log.js';
import { assertReadableDir } from './config-dir.js';
import { UsageError } from './usage-error.js';
import { InstanceLockBusyError, takeInstanceLock, type InstanceLock } from '../server/instance-lock.js';

/** The rule options as commander hands them over. */
export interface ReclaimRuleOptions {
  maxTotal?: string;
  olderThan?: string;
  unusedOlderThan?: string;
  minFree?: string;
}

/** Each policy field and the option that sets it, for error messages. */
const OPTION_OF_FIELD: Readonly<Record<string, string>> = {
  max_total: '--max-total',
  older_than: '--older-than',
  unused_older_than: '--unused-older-than',
  min_free: '--min-free',
};

/**
 * The policy the options describe, or null when no rule option was given
 * (the saved policy applies). Throws a {@link UsageError} naming the option.
 */
export function policyFromOptions(options: ReclaimRuleOptions): ReclaimPolicy | null {
  const input: ReclaimPolicyInput = {};
  if (options.maxTotal !== undefined) input.max_total = options.maxTotal;
  if (options.olderThan !== undefined) input.older_than = options.olderThan;
  if (options.unusedOlderThan !== undefined) input.unused_older_than = options.unusedOlderThan;
  if (options.minFree !== undefined) input.min_free = options.minFree;
  if (Object.keys(input).length === 0) return null;
  try {
    return parsePolicyInput(input, DEFAULT_RECLAIM_POLICY);
  } catch (err) {
    if (err instanceof ReclaimInputError) {
      const option = OPTION_OF_FIELD[err.field] ?? err.field;
      throw new UsageError(`${option}${err.message.slice(err.field.length)}`);
    }
    throw err;
  }
}

export interface ReclaimCommandOptions {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  dataDir?: string;
  walker?: WalkerChoice;
  /** The esphome command (`serve`'s `--esphome` rule); only used with `execute`. */
  esphomeCommand: string[];
  /** Rules from the options; null: the saved policy. */
  policy: ReclaimPolicy | null;
  /** Run the plan (`--yes`); otherwise only preview it. */
  execute: boolean;
  /** How the data dir's file system is read (tests simulate a full disk). */
  diskSpace?: DiskSpaceReader;
  /** Progress lines (stderr): the refresh, each step. */
  onProgress?: (line: string) => void;
}

export interface ReclaimReport {
  /** Where the rules came from. */
  source: 'options' | 'saved';
  policy: ReclaimPolicy;
  /** Null when the saved policy has no rule (nothing was measured or planned). */
  plan: ReclaimPlan | null;
  /** The run, when executed. */
  run: ReclaimRun | null;
  /** The disk after the run (executed only). */
  diskAfter: ReclaimPlan['disk'];
}

/** The shell's exit code for a report: 1 when a step of an executed run failed or was skipped. */
export function reclaimExitCode(report: ReclaimReport): number {
  return report.run && report.run.results.some((result) => !result.ok) ? 1 : 0;
}

export async function runReclaimCommand(configDir: string, options: ReclaimCommandOptions): Promise<ReclaimReport> {
  await assertReadableDir(configDir);
  const env = options.env ?? process.env;
  const dataDir = options.dataDir ?? resolveDataDir(configDir, env);
  const { logger } = options;
  const reclaimStore = new ReclaimStore({ dataDir, logger });
  const source = options.policy ? 'options' : 'saved';
  const policy = options.policy ?? (await reclaimStore.readPolicy());
  if (!isPolicyActive(policy)) return { source, policy, plan: null, run: null, diskAfter: null };

  let devices: Device[] = [];
  let walked = 0;
  const sizing = createSizingSystem({
    configDir,
    dataDir,
    env,
    logger,
    walker: options.walker,
    inlineSignals: true,
    activeConfigurations: () => devices.map((device) => device.configuration),
    listTargets: async () => devices.map((device) => ({ configuration: device.configuration, buildPath: device.build_path })),
    onRefreshed: (configuration) => options.onProgress?.(`measured ${configuration} (${++walked})`),
  });
  const { store, scanner, orphans, refresher, pool } = sizing;
  let jobs: JobQueue | null = null;
  let instanceLock: InstanceLock | null = null;
  try {
    await store.cleanStaleTemps();
    devices = await scanner.scan(await store.read());
    refresher.start();
    await refresher.whenIdle();
    // Re-assembled with the sizes the pass just wrote (the parse cache makes this cheap).
    devices = await scanner.scan(await store.read());
    const readDisk = options.diskSpace ?? readDiskSpace;
    const disk = await readDisk(dataDir);
    if (!disk) logger.warn({ dataDir }, 'could not read the free space of the data dir (statfs failed)');
    const now = Math.floor(Date.now() / 1000);
    // No server here: no job of ours is queued or running while we plan.
    const inputs = await systemPlanInputs(
      { orphans, store, signals: (dirs) => pool.signals(dirs), jobs: { activeJobFor: () => undefined } },
      devices,
      disk,
      now,
    );
    const plan = planReclaim(policy, inputs, randomUUID());
    if (!options.execute || plan.steps.length === 0) return { source, policy, plan, run: null, diskAfter: null };

    // A job queue of our own beside a running `serve` would fail its running jobs and fight over the job history.
    instanceLock = await takeInstanceLock(dataDir).catch((err: unknown) => {
      throw err instanceof InstanceLockBusyError ? new UsageError(`--yes refused: ${err.message}`) : err;
    });
    jobs = new JobQueue({ configDir, dataDir, esphomeCommand: options.esphomeCommand, store, logger, env });
    await jobs.init();
    const active = new Set(devices.map((device) => device.configuration));
    const stillThere = (configuration: string): Promise<boolean> =>
      fsp.access(path.join(configDir, configuration)).then(
        () => true,
        () => false,
      );
    const runner = new ReclaimRunner({
      store: reclaimStore,
      logger,
      ports: systemPorts({
        jobs,
        orphans,
        refresher,
        store,
        signals: (dirs) => pool.signals(dirs),
        // Read fresh, as the scanner resolves it: a compile may have moved the folder since.
        buildPathOf: async (configuration) =>
          active.has(configuration) && (await stillThere(configuration))
            ? resolvedBuildPath(configDir, await readStorageJson(dataDir, configuration))
            : undefined,
      }),
      onProgress: ({ index, total, result }) =>
        options.onProgress?.(
          `[${index + 1}/${total}] ${result.configuration ?? result.build_path}: ${result.ok ? `freed ${formatBytes(result.freed_bytes)}` : (result.error ?? 'failed')}`,
        ),
    });
    const run = await runner.run(plan, 'cli', `device-builder reclaim --yes: ${describePolicy(policy)}`);
    // As the server does: what the run freed becomes a marker on the size-history chart.
    if (run.freed_bytes > 0) sizing.sizeHistory.markReclaimed(run.freed_bytes);
    return { source, policy, plan, run, diskAfter: await readDisk(dataDir) };
  } finally {
    if (jobs) {
      jobs.stopAccepting();
      await jobs.shutdown();
    }
    await instanceLock?.release();
    await sizing.close();
  }
}

/** The `--json` shape (issue 14): one object, steps in run order, results only when executed. */
export function reclaimReportJson(report: ReclaimReport): object {
  const plan = report.plan;
  const disk = plan?.disk ?? null;
  return {
    steps: (plan?.steps ?? []).map((step) => ({
      kind: step.kind,
      ...(step.kind === 'device' ? { configuration: step.configuration } : {}),
      build_path: step.build_path,
      bytes: step.bytes,
      rule: step.rule,
      last_compiled: step.last_compiled,
    })),
    frees_bytes: plan?.frees_bytes ?? 0,
    disk: disk ? { path: disk.path, free_bytes: disk.free_bytes, total_bytes: disk.total_bytes } : null,
    executed: report.run !== null,
    ...(report.run
      ? {
          results: report.run.results.map((result) => ({
            build_path: result.build_path,
            ok: result.ok,
            freed_bytes: result.freed_bytes,
            ...(result.error !== undefined ? { error: result.error } : {}),
          })),
        }
      : {}),
  };
}

function dateOf(seconds: number | null): string {
  return seconds === null ? 'unknown' : new Date(seconds * 1000).toISOString().slice(0, 10);
}

/** The human report: where the rules came from, the plan as a table, the disk before and after, skips, and what ran. */
export function renderReclaimReport(report: ReclaimReport): string {
  const out: string[] = [];
  const rules = describePolicy({ ...report.policy, enabled: true });
  out.push(report.source === 'saved' ? `Using the saved policy: ${rules}` : `Rules: ${rules} (from the options; not saved)`);
  const plan = report.plan;
  if (!plan) {
    out.push(
      '',
      'The saved policy has no rule, so there is nothing to plan. Give rules as options, e.g.',
      '  device-builder reclaim --older-than 30d --max-total 20GB',
      'or save a policy in the dashboard (Reclaim panel) or with the reclaim/set_policy API command.',
    );
    return `${out.join('\n')}\n`;
  }
  out.push('');
  if (plan.steps.length === 0) out.push('Nothing to reclaim: no device or unused folder matches the rules.');
  else {
    const header = ['#', 'KIND', 'DEVICE / FOLDER', 'RULE', 'LAST COMPILED', 'FREES'];
    const rows = plan.steps.map((step, index) => [
      String(index + 1),
      step.kind === 'device' ? 'clean' : 'delete',
      step.configuration ?? step.build_path,
      step.rule,
      dateOf(step.last_compiled),
      formatBytes(step.bytes),
    ]);
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
    const line = (cells: string[]): string =>
      cells
        .map((cell, column) => (column === 5 || column === 0 ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd();
    out.push(line(header), ...rows.map(line), '', `Total: ${formatBytes(plan.frees_bytes)} in ${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}`);
  }
  out.push(
    plan.disk && plan.expected_free_bytes !== null
      ? `Disk: ${formatBytes(plan.disk.free_bytes)} free of ${formatBytes(plan.disk.total_bytes)} → about ${formatBytes(plan.expected_free_bytes)} free after (data dir ${plan.disk.path})`
      : 'Disk: free space unknown (statfs of the data dir failed)',
  );
  if (plan.skipped.length > 0) {
    out.push('', 'Skipped:');
    for (const skip of plan.skipped) out.push(`  ${skip.configuration ?? (skip.build_path || '(rule)')}: ${skip.reason}`);
  }
  const run = report.run;
  if (!run) {
    if (plan.steps.length > 0) out.push('', 'This is a preview: nothing was changed. Run it with --yes.');
    return `${out.join('\n')}\n`;
  }
  const done = run.results.filter((result) => result.ok).length;
  out.push('', `Ran ${done} of ${run.steps.length} steps (${run.status}), freed ${formatBytes(run.freed_bytes)}.`);
  for (const result of run.results) {
    if (!result.ok) out.push(`  not done: ${result.configuration ?? result.build_path}: ${result.error ?? 'failed'}`);
  }
  if (report.diskAfter) out.push(`Disk now: ${formatBytes(report.diskAfter.free_bytes)} free of ${formatBytes(report.diskAfter.total_bytes)}`);
  return `${out.join('\n')}\n`;
}
