/**
 * The reclaim policy as a person edits it (issue 14): a partial input in the
 * documented spellings applied over the saved policy, checked field by field.
 *
 * Why merge-over-base: the page edits one rule at a time and the CLI's
 * options name only the rules given, so an input says what changes. A field
 * that is absent keeps the base's value; `null` turns that rule off. The
 * input schema is strict (an unknown key is a typo, refused with the known
 * ones listed) so a misspelt `max_totl` never silently leaves the cap off.
 *
 * Ranges, so that an automatic run cannot do something nobody meant:
 * - `max_total` (cap) at least 1 MB; `min_free` at least 1 MB or a percentage
 *   strictly between 0 and 100;
 * - `older_than` and `unused_older_than` at least one hour (a device compiled
 *   in the last hour is never touched anyway);
 * - `schedule_hours` a whole number from 1 to 8760 (a year).
 *
 * Every refusal is a {@link ReclaimInputError} naming the field.
 *
 * {@link reclaimPolicySchema} checks a stored policy read back from disk.
 */
import { z } from 'zod';
import { DEFAULT_RECLAIM_POLICY, type FreeSpaceThreshold, type ReclaimPolicy, type ReclaimPolicyInput } from '../shared/reclaim.js';
import { formatAge, formatSize, formatThreshold, parseAge, parseFreeSpace, parseSize, ReclaimInputError } from './units.js';

/** The smallest cap and free-space threshold in bytes (1 MB). */
export const MIN_SIZE_BYTES = 1_000_000;
/** The shortest age a rule may use (seconds). */
export const MIN_AGE_SECONDS = 3600;
/** The longest schedule (hours): once a year. */
export const MAX_SCHEDULE_HOURS = 8760;

const POLICY_INPUT_KEYS = ['enabled', 'max_total', 'older_than', 'unused_older_than', 'min_free', 'schedule_hours'] as const;

const spelling = z
  .union([z.string().max(100), z.number()])
  .nullable()
  .optional();

const policyInputSchema = z.strictObject({
  enabled: z.boolean().optional(),
  max_total: spelling,
  older_than: spelling,
  unused_older_than: spelling,
  min_free: spelling,
  schedule_hours: z.number().nullable().optional(),
});

const thresholdSchema: z.ZodType<FreeSpaceThreshold> = z.union([
  z.strictObject({ bytes: z.number().int().min(MIN_SIZE_BYTES).max(Number.MAX_SAFE_INTEGER) }),
  z.strictObject({ percent: z.number().gt(0).lt(100) }),
]);

/** A saved policy (numbers, as {@link parsePolicyInput} produces them): what the store accepts back from disk. */
export const reclaimPolicySchema: z.ZodType<ReclaimPolicy> = z.strictObject({
  enabled: z.boolean(),
  max_total_bytes: z.number().int().min(MIN_SIZE_BYTES).max(Number.MAX_SAFE_INTEGER).nullable(),
  older_than_seconds: z.number().int().min(MIN_AGE_SECONDS).max(Number.MAX_SAFE_INTEGER).nullable(),
  unused_older_than_seconds: z.number().int().min(MIN_AGE_SECONDS).max(Number.MAX_SAFE_INTEGER).nullable(),
  min_free: thresholdSchema.nullable(),
  schedule_hours: z.number().int().min(1).max(MAX_SCHEDULE_HOURS).nullable(),
});

/** The input's zod verdict as one {@link ReclaimInputError} naming the field. */
function inputError(error: z.ZodError): ReclaimInputError {
  const issue = error.issues[0];
  if (!issue) return new ReclaimInputError('policy', 'is not valid');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '?';
    return new ReclaimInputError(key, `unknown field (known: ${POLICY_INPUT_KEYS.join(', ')})`);
  }
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : 'policy';
  if (field === 'policy') return new ReclaimInputError('policy', 'must be an object of rules');
  if (field === 'enabled') return new ReclaimInputError(field, 'must be true or false');
  if (field === 'schedule_hours') return new ReclaimInputError(field, `must be a whole number of hours from 1 to ${MAX_SCHEDULE_HOURS}, or null`);
  return new ReclaimInputError(field, 'must be text like 20GB / 30d / 10%, a number, or null');
}

function atLeast(value: number, minimum: number, field: string, words: string): number {
  if (value < minimum) throw new ReclaimInputError(field, `must be at least ${words}`);
  return value;
}

/**
 * `input` applied over `base`: absent keeps the base's value, null turns the
 * rule off. Throws {@link ReclaimInputError} naming the first bad field.
 */
export function parsePolicyInput(input: unknown, base: ReclaimPolicy): ReclaimPolicy {
  const parsed = policyInputSchema.safeParse(input);
  if (!parsed.success) throw inputError(parsed.error);
  const given = parsed.data;
  const next: ReclaimPolicy = { ...base };
  if (given.enabled !== undefined) next.enabled = given.enabled;
  if (given.max_total !== undefined) {
    next.max_total_bytes = given.max_total === null ? null : atLeast(parseSize(given.max_total, 'max_total'), MIN_SIZE_BYTES, 'max_total', '1 MB');
  }
  if (given.older_than !== undefined) {
    next.older_than_seconds =
      given.older_than === null ? null : atLeast(parseAge(given.older_than, 'older_than'), MIN_AGE_SECONDS, 'older_than', 'one hour (1h)');
  }
  if (given.unused_older_than !== undefined) {
    next.unused_older_than_seconds =
      given.unused_older_than === null
        ? null
        : atLeast(parseAge(given.unused_older_than, 'unused_older_than'), MIN_AGE_SECONDS, 'unused_older_than', 'one hour (1h)');
  }
  if (given.min_free !== undefined) {
    if (given.min_free === null) next.min_free = null;
    else {
      const threshold = parseFreeSpace(given.min_free, 'min_free');
      if ('bytes' in threshold) atLeast(threshold.bytes, MIN_SIZE_BYTES, 'min_free', '1 MB (or a percentage such as 10%)');
      next.min_free = threshold;
    }
  }
  if (given.schedule_hours !== undefined) {
    const hours = given.schedule_hours;
    if (hours !== null && !(Number.isInteger(hours) && hours >= 1 && hours <= MAX_SCHEDULE_HOURS)) {
      throw new ReclaimInputError('schedule_hours', `${hours} is not a whole number of hours from 1 to ${MAX_SCHEDULE_HOURS}`);
    }
    next.schedule_hours = hours;
  }
  return next;
}

/** The policy in the spellings a person types (`20 GB`, `30d`, `10%`): what the page's form and the CLI show. */
export function policyToInput(policy: ReclaimPolicy): ReclaimPolicyInput {
  return {
    enabled: policy.enabled,
    max_total: policy.max_total_bytes === null ? null : formatSize(policy.max_total_bytes),
    older_than: policy.older_than_seconds === null ? null : formatAge(policy.older_than_seconds),
    unused_older_than: policy.unused_older_than_seconds === null ? null : formatAge(policy.unused_older_than_seconds),
    min_free: policy.min_free === null ? null : formatThreshold(policy.min_free),
    schedule_hours: policy.schedule_hours,
  };
}

/** Whether any rule is set (the schedule alone picks nothing). */
export function isPolicyActive(policy: ReclaimPolicy): boolean {
  return policy.max_total_bytes !== null || policy.older_than_seconds !== null || policy.unused_older_than_seconds !== null || policy.min_free !== null;
}

/**
 * One line: `cap 20 GB · older than 30d · unused after 14d · keep 10% free ·
 * every 24h`, `no rules` when none is set, and `(automatic runs off)` when
 * rules are set but the policy is not enabled.
 */
export function describePolicy(policy: ReclaimPolicy): string {
  const parts: string[] = [];
  if (policy.max_total_bytes !== null) parts.push(`cap ${formatSize(policy.max_total_bytes)}`);
  if (policy.older_than_seconds !== null) parts.push(`older than ${formatAge(policy.older_than_seconds)}`);
  if (policy.unused_older_than_seconds !== null) parts.push(`unused after ${formatAge(policy.unused_older_than_seconds)}`);
  if (policy.min_free !== null) parts.push(`keep ${formatThreshold(policy.min_free)} free`);
  if (parts.length === 0) return 'no rules';
  if (policy.schedule_hours !== null) parts.push(`every ${policy.schedule_hours}h`);
  const line = parts.join(' · ');
  return policy.enabled ? line : `${line} (automatic runs off)`;
}

export { DEFAULT_RECLAIM_POLICY, ReclaimInputError };
