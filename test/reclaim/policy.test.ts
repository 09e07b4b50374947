import { describe, expect, it } from 'vitest';
import { describePolicy, isPolicyActive, parsePolicyInput, policyToInput, reclaimPolicySchema } from '../../src/reclaim/policy.js';
import { ReclaimInputError } from '../../src/reclaim/units.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimPolicy } from '../../src/shared/reclaim.js';

const full: ReclaimPolicy = {
  enabled: true,
  max_total_bytes: 20e9,
  older_than_seconds: 30 * 86_400,
  unused_older_than_seconds: 14 * 86_400,
  min_free: { percent: 10 },
  schedule_hours: 24,
};

function refusal(input: unknown, base: ReclaimPolicy = DEFAULT_RECLAIM_POLICY): ReclaimInputError {
  try {
    parsePolicyInput(input, base);
  } catch (err) {
    expect(err).toBeInstanceOf(ReclaimInputError);
    return err as ReclaimInputError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('parsePolicyInput: merge over the base', () => {
  it('the default is off with no rules', () => {
    expect(DEFAULT_RECLAIM_POLICY.enabled).toBe(false);
    expect(isPolicyActive(DEFAULT_RECLAIM_POLICY)).toBe(false);
  });

  it('parses every rule from its spelling', () => {
    expect(
      parsePolicyInput(
        { enabled: true, max_total: '20GB', older_than: '30d', unused_older_than: '2w', min_free: '10%', schedule_hours: 24 },
        DEFAULT_RECLAIM_POLICY,
      ),
    ).toEqual(full);
  });

  it('absent keeps the base, null turns a rule off', () => {
    const next = parsePolicyInput({ older_than: null, min_free: '5 GB' }, full);
    expect(next).toEqual({ ...full, older_than_seconds: null, min_free: { bytes: 5e9 } });
    expect(parsePolicyInput({}, full)).toEqual(full);
  });

  it('never changes the base object', () => {
    const base = { ...full };
    parsePolicyInput({ max_total: null, enabled: false }, base);
    expect(base).toEqual(full);
  });

  it('numbers are bytes, seconds and hours', () => {
    expect(parsePolicyInput({ max_total: 2_000_000, older_than: 7200, min_free: 3_000_000 }, DEFAULT_RECLAIM_POLICY)).toMatchObject({
      max_total_bytes: 2_000_000,
      older_than_seconds: 7200,
      min_free: { bytes: 3_000_000 },
    });
  });
});

describe('parsePolicyInput: refusals name the field', () => {
  it.each([
    [{ max_totl: '20GB' }, 'max_totl', /unknown field \(known: enabled, max_total/],
    [{ max_total: '20 GBs' }, 'max_total', /is not a size/],
    [{ max_total: '999kB' }, 'max_total', /at least 1 MB/],
    [{ max_total: true }, 'max_total', /must be text/],
    [{ older_than: '30 minutes' }, 'older_than', /is not an age/],
    [{ older_than: '59m' }, 'older_than', /at least one hour/],
    [{ unused_older_than: '10s' }, 'unused_older_than', /at least one hour/],
    [{ min_free: '100%' }, 'min_free', /percentage above 0 and below 100/],
    [{ min_free: '500kB' }, 'min_free', /at least 1 MB/],
    [{ schedule_hours: 0 }, 'schedule_hours', /from 1 to 8760/],
    [{ schedule_hours: 8761 }, 'schedule_hours', /from 1 to 8760/],
    [{ schedule_hours: 1.5 }, 'schedule_hours', /from 1 to 8760/],
    [{ schedule_hours: '24' }, 'schedule_hours', /from 1 to 8760/],
    [{ enabled: 'yes' }, 'enabled', /true or false/],
    [null, 'policy', /object/],
    [[], 'policy', /object/],
    ['20GB', 'policy', /object/],
  ] as const)('%o → %s', (input, field, message) => {
    const error = refusal(input);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
  });
});

describe('showing a policy', () => {
  it('policyToInput gives spellings that parse back to the same policy', () => {
    const shown = policyToInput(full);
    expect(shown).toEqual({ enabled: true, max_total: '20 GB', older_than: '30d', unused_older_than: '14d', min_free: '10%', schedule_hours: 24 });
    expect(parsePolicyInput(shown, DEFAULT_RECLAIM_POLICY)).toEqual(full);
  });

  it('describePolicy is one line', () => {
    expect(describePolicy(full)).toBe('cap 20 GB · older than 30d · unused after 14d · keep 10% free · every 24h');
    expect(describePolicy({ ...full, enabled: false, schedule_hours: null, max_total_bytes: null })).toBe(
      'older than 30d · unused after 14d · keep 10% free (automatic runs off)',
    );
    expect(describePolicy(DEFAULT_RECLAIM_POLICY)).toBe('no rules');
  });

  it('isPolicyActive: any rule, not the schedule alone', () => {
    expect(isPolicyActive({ ...DEFAULT_RECLAIM_POLICY, schedule_hours: 24, enabled: true })).toBe(false);
    expect(isPolicyActive({ ...DEFAULT_RECLAIM_POLICY, min_free: { percent: 5 } })).toBe(true);
  });

  it('the stored-policy schema accepts what parsePolicyInput makes and refuses out-of-range values', () => {
    expect(reclaimPolicySchema.safeParse(full).success).toBe(true);
    expect(reclaimPolicySchema.safeParse({ ...full, max_total_bytes: 5 }).success).toBe(false);
    expect(reclaimPolicySchema.safeParse({ ...full, extra: 1 }).success).toBe(false);
  });
});
