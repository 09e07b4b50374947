/**
 * The `reclaim/*` WebSocket commands (issue 14): strict schemas and thin
 * handlers over the server's {@link ReclaimService}. Spread into the
 * command table of commands.ts, so the compile-time check against the
 * shared map (src/shared/commands.ts) covers them like every other command.
 *
 * The schemas only say which keys and JSON types a policy may have; what a
 * value means (`20GB`, `10%`, `30d`) is parsed once, by the reclaim core
 * (src/reclaim/units.ts, through the service), whose error names the field:
 * it reaches the client as `invalid_args` with that message, and nothing is
 * saved.
 */
import { z } from 'zod';
import { ReclaimBusyError } from '../reclaim/reclaim-runner.js';
import { ReclaimInputError } from '../reclaim/units.js';
import { UnknownPlanError } from '../reclaim/reclaim-service.js';
import type { ReclaimPolicyInput } from '../shared/reclaim.js';
import { ApiError } from './api-error.js';
import type { CommandContext } from './commands.js';

/**
 * As commands.ts's `define` (a schema and its handler, typed by the schema's
 * output); a copy, because importing values from commands.ts, which imports
 * this module, would be a cycle.
 */
function define<S extends z.ZodType, R>(args: S, handler: (args: z.output<S>, ctx: CommandContext) => R | Promise<R>) {
  return { args, handler };
}

const noArgs = z.strictObject({});

/** A size or age as typed (`"20GB"`, `"30d"`), a number (bytes / seconds), or null (the rule off). */
const ruleValue = z.union([z.string().max(64), z.number(), z.null()]);

const policyInput: z.ZodType<ReclaimPolicyInput> = z.strictObject({
  enabled: z.boolean().optional(),
  max_total: ruleValue.optional(),
  older_than: ruleValue.optional(),
  unused_older_than: ruleValue.optional(),
  min_free: ruleValue.optional(),
  schedule_hours: z.number().nullable().optional(),
});

/** The core's refusals keep their meaning on the wire. */
function apiErrorOf(err: unknown): never {
  if (err instanceof ReclaimInputError) throw new ApiError('invalid_args', err.message);
  if (err instanceof ReclaimBusyError) throw new ApiError('busy', err.message);
  if (err instanceof UnknownPlanError) throw new ApiError('not_found', err.message);
  throw err;
}

export const RECLAIM_SPECS = {
  'reclaim/get_policy': define(noArgs, (_args, { services }) => services.reclaim.state()),
  'reclaim/set_policy': define(z.strictObject({ policy: policyInput }), ({ policy }, { services }) => services.reclaim.setPolicy(policy).catch(apiErrorOf)),
  'reclaim/preview': define(z.strictObject({ policy: policyInput.optional() }), ({ policy }, { services }) =>
    services.reclaim.preview(policy).catch(apiErrorOf),
  ),
  'reclaim/run': define(z.strictObject({ plan_id: z.string().min(1).max(100).optional() }), ({ plan_id }, { services }) =>
    services.reclaim.runNow(plan_id).catch(apiErrorOf),
  ),
  'reclaim/history': define(noArgs, (_args, { services }) => services.reclaim.history()),
};
