/**
 * The reclaim panel's pure logic (issue 14): the policy form as the user
 * types it and the policy input sent to the server, the plan's rows, the
 * history's labels and the free-space warning's words. Pure so it is
 * tested in Node and the components stay presentational.
 *
 * The form holds strings, one per rule, blank meaning "off". The server
 * parses the spellings (`20GB`, `10%`, `30d`); the page never re-implements
 * that parser. So that opening the panel and saving without touching a
 * field cannot drift by a rounding (the form shows "1.5 GB" for a saved
 * 1,610,612,736 bytes), a field whose text is still what the saved policy
 * displayed is sent back as the saved number (bytes / seconds), which the
 * input type accepts; only what the user edited travels as typed text.
 *
 * Sizes are spelled back the way the server's parser reads them
 * (src/reclaim/units.ts, which the page cannot import): `GB` is 1000³ and
 * `GiB` 1024³, so a saved `20GB` shows as "20 GB" and an edit of it to
 * "21 GB" means what it says. Figures (free space, what a step frees) use
 * the shared `formatBytes` like the rest of the page.
 */
import { formatBytes } from '../../../src/shared/format.js';
import type {
  DiskSpace,
  DiskWarning,
  FreeSpaceThreshold,
  ReclaimPlan,
  ReclaimPolicy,
  ReclaimPolicyInput,
  ReclaimRule,
  ReclaimRun,
  ReclaimStep,
  ReclaimTrigger,
} from '../../../src/shared/reclaim.js';
import { DEFAULT_RECLAIM_POLICY, formatAge, formatSize, formatThreshold } from '../../../src/shared/reclaim.js';

/** The form's text fields, named as the policy input names them (and as `invalid_args` details name them). */
export const POLICY_FIELDS = ['max_total', 'older_than', 'unused_older_than', 'min_free', 'schedule_hours'] as const;
export type PolicyField = (typeof POLICY_FIELDS)[number];

export interface ReclaimForm {
  /** "Run automatically": the schedule and the free-space check on each sweep. */
  enabled: boolean;
  /** Blank = the rule is off. */
  max_total: string;
  older_than: string;
  unused_older_than: string;
  min_free: string;
  schedule_hours: string;
}

/** An error to show next to one field. */
export interface FieldError {
  field: PolicyField | 'enabled';
  message: string;
}

const DAY = 86_400;
const HOUR = 3_600;
/** Bytes as a person would type them and the server reads back exactly ("20 GB", "1.5 GiB"): the shared {@link formatSize}. */
export const sizeSpelling = formatSize;
/** Seconds as the largest whole unit the server reads (`30d`, `12h`): the shared {@link formatAge}. */
export const ageSpelling = formatAge;

/** The form showing a saved policy (off rules blank). */
export function formFromPolicy(policy: ReclaimPolicy): ReclaimForm {
  const minFree = policy.min_free;
  return {
    enabled: policy.enabled,
    max_total: policy.max_total_bytes === null ? '' : sizeSpelling(policy.max_total_bytes),
    older_than: policy.older_than_seconds === null ? '' : ageSpelling(policy.older_than_seconds),
    unused_older_than: policy.unused_older_than_seconds === null ? '' : ageSpelling(policy.unused_older_than_seconds),
    min_free: minFree === null ? '' : formatThreshold(minFree),
    schedule_hours: policy.schedule_hours === null ? '' : String(policy.schedule_hours),
  };
}

/** The saved value of one field in the policy input's terms (a number, a `10%` string, or null). */
function savedValue(policy: ReclaimPolicy, field: PolicyField): string | number | null {
  switch (field) {
    case 'max_total':
      return policy.max_total_bytes;
    case 'older_than':
      return policy.older_than_seconds;
    case 'unused_older_than':
      return policy.unused_older_than_seconds;
    case 'min_free':
      return policy.min_free === null ? null : 'percent' in policy.min_free ? `${policy.min_free.percent}%` : policy.min_free.bytes;
    case 'schedule_hours':
      return policy.schedule_hours;
  }
}

/**
 * The policy input for a form: blank = null (off), unchanged text = the
 * saved number, edited text as typed (trimmed). Every field is sent so a
 * preview of the draft never mixes in saved values the user cleared.
 * Returns a field error instead when "Every N hours" is not a number (the
 * one field the input type wants numeric).
 */
export function inputFromForm(form: ReclaimForm, saved: ReclaimPolicy | null): { input: ReclaimPolicyInput } | { error: FieldError } {
  const shown = saved ? formFromPolicy(saved) : null;
  const values: Record<PolicyField, string | number | null> = {
    max_total: null,
    older_than: null,
    unused_older_than: null,
    min_free: null,
    schedule_hours: null,
  };
  for (const field of POLICY_FIELDS) {
    const text = form[field].trim();
    if (text === '') {
      values[field] = null;
    } else if (saved && shown && text === shown[field].trim()) {
      values[field] = savedValue(saved, field);
    } else if (field === 'schedule_hours') {
      const hours = Number(text);
      if (!Number.isFinite(hours) || hours <= 0) return { error: { field, message: `"${text}" is not a number of hours (e.g. 24)` } };
      values[field] = hours;
    } else {
      values[field] = text;
    }
  }
  const hours = values.schedule_hours;
  return { input: { enabled: form.enabled, ...values, schedule_hours: typeof hours === 'number' ? hours : null } };
}

/** True when the form says something other than the saved policy. */
export function formDiffers(form: ReclaimForm, saved: ReclaimPolicy | null): boolean {
  const shown = formFromPolicy(saved ?? DEFAULT_RECLAIM_POLICY);
  return form.enabled !== shown.enabled || POLICY_FIELDS.some((field) => form[field].trim() !== shown[field].trim());
}

/**
 * Which field an `invalid_args` message is about: the server starts it with
 * the field's name (`max_total: "20 GBs" is not a size …`), possibly as
 * `policy.max_total`. Null when it names none of ours.
 */
export function fieldError(details: string): FieldError | null {
  const named = /^\s*(?:policy\s*[./]\s*)?([a-z_]+)\s*:\s*(.*)$/s.exec(details);
  const field = named?.[1];
  if (field && (POLICY_FIELDS as readonly string[]).includes(field)) return { field: field as PolicyField, message: named[2] ?? details };
  if (field === 'enabled') return { field: 'enabled', message: named?.[2] ?? details };
  // Not at the start: the first of our names the message mentions (longest first: `older_than` is inside `unused_older_than`).
  for (const candidate of [...POLICY_FIELDS].sort((a, b) => b.length - a.length)) {
    if (new RegExp(`\\b${candidate}\\b`).test(details)) return { field: candidate, message: details };
  }
  return null;
}

export const RULE_LABELS: Record<ReclaimRule, string> = {
  cap: 'Over the cap',
  age: 'Not compiled lately',
  unused: 'Unused folder',
  free_space: 'Free space',
};

export const TRIGGER_LABELS: Record<ReclaimTrigger, string> = {
  manual: 'Run now',
  schedule: 'Schedule',
  free_space: 'Low free space',
  cli: 'Command line',
};

export const RUN_STATUS_LABELS: Record<ReclaimRun['status'], string> = {
  running: 'Running',
  completed: 'Completed',
  partial: 'Partly done',
  failed: 'Failed',
  interrupted: 'Interrupted',
};

/** "just now", "5 min ago", "3 h ago", "12 days ago", "4 months ago"; "never" without a time. */
export function relativeTime(unixSeconds: number | null, nowSeconds: number): string {
  if (unixSeconds === null) return 'never';
  const ago = Math.max(0, nowSeconds - unixSeconds);
  if (ago < 60) return 'just now';
  if (ago < HOUR) return `${Math.floor(ago / 60)} min ago`;
  if (ago < 2 * DAY) return `${Math.floor(ago / HOUR)} h ago`;
  if (ago < 60 * DAY) return `${Math.floor(ago / DAY)} days ago`;
  if (ago < 730 * DAY) return `${Math.floor(ago / (30 * DAY))} months ago`;
  return `${Math.floor(ago / (365 * DAY))} years ago`;
}

/** The last part of a path (a build folder's name). */
export function folderName(buildPath: string): string {
  const parts = buildPath.split(/[\\/]+/).filter(Boolean);
  return parts[parts.length - 1] ?? buildPath;
}

/** One row of the preview table. */
export interface PlanRow {
  key: string;
  /** 1-based position in run order. */
  order: number;
  kind: 'Device' | 'Unused folder';
  /** The device's name, or the unused folder's. */
  name: string;
  build_path: string;
  rule: string;
  lastCompiled: string;
  bytes: number;
}

/** What a step is about, in words: the device's name (`nameOf`) or the folder's. */
export function stepName(step: Pick<ReclaimStep, 'kind' | 'configuration' | 'build_path'>, nameOf: (configuration: string) => string): string {
  return step.kind === 'device' && step.configuration ? nameOf(step.configuration) : folderName(step.build_path);
}

/** The plan's steps as table rows, in the order they run. */
export function planRows(plan: ReclaimPlan, nameOf: (configuration: string) => string, nowSeconds: number): PlanRow[] {
  return plan.steps.map((step, index) => ({
    key: `${step.kind}:${step.build_path}`,
    order: index + 1,
    kind: step.kind === 'device' ? 'Device' : 'Unused folder',
    name: stepName(step, nameOf),
    build_path: step.build_path,
    rule: RULE_LABELS[step.rule],
    lastCompiled: relativeTime(step.last_compiled, nowSeconds),
    bytes: step.bytes,
  }));
}

/** "Disk free 3.2 GB → 4.5 GB", or null when the server could not read the disk. */
export function freeAfterText(plan: ReclaimPlan): string | null {
  if (!plan.disk || plan.expected_free_bytes === null) return null;
  return `${formatBytes(plan.disk.free_bytes)} → ${formatBytes(plan.expected_free_bytes)}`;
}

/**
 * The free-space warning in words, or null when there is none. The
 * policy's threshold is named as the user set it ("5 GB", "10% (3.2 GB)")
 * when `minFree` is given, else by its bytes.
 */
export function warningText(warning: DiskWarning | null, minFree: FreeSpaceThreshold | null = null): string | null {
  if (!warning) return null;
  const lead = `Only ${formatBytes(warning.free_bytes)} free on the data dir's disk`;
  if (warning.kind === 'next_compile_may_not_fit') {
    return `${lead} — the next compile may not fit (largest build folder ${formatBytes(warning.largest_build_bytes)})`;
  }
  const threshold =
    minFree === null
      ? formatBytes(warning.threshold_bytes)
      : 'percent' in minFree
        ? `${minFree.percent}% (${formatBytes(warning.threshold_bytes)})`
        : sizeSpelling(minFree.bytes);
  return `${lead} — below your policy's ${threshold}`;
}

/** The share of the disk in use, 0–100, for the summary card's bar. */
export function usedPercent(disk: DiskSpace): number {
  if (disk.total_bytes <= 0) return 0;
  return Math.min(100, Math.max(0, Math.round(((disk.total_bytes - disk.free_bytes) / disk.total_bytes) * 100)));
}

/** How far a run got: "3 of 5 steps" (results reached, all steps). */
export function stepsDoneText(run: Pick<ReclaimRun, 'steps' | 'results'>): string {
  const ok = run.results.filter((r) => r.ok).length;
  return `${ok} of ${run.steps.length} step${run.steps.length === 1 ? '' : 's'}`;
}

/** A run in progress: which step runs now (1-based) and on what, from the results reached so far. */
export function runProgress(run: ReclaimRun, nameOf: (configuration: string) => string): { current: number; total: number; subject: string | null } {
  const total = run.steps.length;
  const reached = run.results.length;
  const step = run.steps[Math.min(reached, Math.max(0, total - 1))];
  return { current: Math.min(reached + 1, total), total, subject: step ? stepName(step, nameOf) : null };
}
