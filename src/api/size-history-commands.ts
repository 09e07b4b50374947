/**
 * The two disk-map commands (issue 15), kept beside the command table
 * (commands.ts) rather than in it so the size history can grow without
 * touching every other command: the server spreads
 * {@link SIZE_HISTORY_COMMANDS} into its table and adds the sizing system's
 * {@link SizeHistoryStore} to its services as `sizeHistory`.
 *
 * - `devices/size_history {configuration}`: that device's points, oldest
 *   first (`time` in unix seconds); `{}`: the fleet total's points.
 * - `devices/size_tree {configuration}`: the tree of its biggest folders
 *   from its last walk, or null when it has not been walked since.
 *
 * A configuration the catalog does not know is `not_found`; a known device
 * never measured has an empty history and a null tree. Arguments are strict
 * (zod), like every other command's.
 */
import { z } from 'zod';
import { isDeviceFileName, isSafeConfigurationName } from '../config/config-scanner.js';
import type { ArgsOf, HandlerCommandName, ResultOf } from '../shared/commands.js';
import type { SizePoint, SizeTreeNode } from '../shared/size-history.js';
import type { SizeHistoryStore } from '../size-history/size-history-store.js';
import { ApiError } from './api-error.js';

/** What these handlers need of the server's services (`ApiServices` gains `sizeHistory`). */
export interface SizeHistoryServices {
  catalog: { get(configuration: string): unknown };
  sizeHistory: Pick<SizeHistoryStore, 'readHistory' | 'readTree' | 'readFleetHistory'>;
}

/** The part of a command's context these handlers read; the server's `CommandContext` is one. */
export interface SizeHistoryContext {
  services: SizeHistoryServices;
}

/** One command of the shared map with these handlers' context (assignable to commands.ts's spec shape). */
type SizeHistorySpec<C extends HandlerCommandName> = {
  readonly args: z.ZodType<ArgsOf<C>>;
  readonly handler: (args: ArgsOf<C>, ctx: SizeHistoryContext) => Promise<ResultOf<C>>;
};

// The same rule as commands.ts's configuration argument.
const configurationArg = z
  .string()
  .refine(isSafeConfigurationName, 'must be a plain file name of at most 255 bytes (no /, \\, NUL, "." or "..")')
  .refine(isDeviceFileName, 'must name a .yaml or .yml device file');

function requireDevice(services: SizeHistoryServices, configuration: string): void {
  if (!services.catalog.get(configuration)) throw new ApiError('not_found', `no device ${configuration}`);
}

export const SIZE_HISTORY_COMMANDS: {
  'devices/size_history': SizeHistorySpec<'devices/size_history'>;
  'devices/size_tree': SizeHistorySpec<'devices/size_tree'>;
} = {
  'devices/size_history': {
    args: z.strictObject({ configuration: configurationArg.optional() }),
    async handler({ configuration }, { services }): Promise<SizePoint[]> {
      if (configuration === undefined) return services.sizeHistory.readFleetHistory();
      requireDevice(services, configuration);
      return services.sizeHistory.readHistory(configuration);
    },
  },
  'devices/size_tree': {
    args: z.strictObject({ configuration: configurationArg }),
    async handler({ configuration }, { services }): Promise<SizeTreeNode | null> {
      requireDevice(services, configuration);
      return services.sizeHistory.readTree(configuration);
    },
  },
};
