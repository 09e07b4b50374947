/**
 * The walker configurations every walk case runs under, so the native and
 * the JS walker are held to the same expectations. The native one walks
 * every top-level folder whole (no JS "expand" pieces), so small test trees
 * reach it too; the default split is covered by every other suite, which
 * uses the pool as the product does.
 *
 * `DEVICE_BUILDER_WALKER=js npm test` leaves the native configuration out,
 * for a machine without a C compiler; otherwise a missing addon fails here.
 */
import { walkerChoiceFromEnv } from '../../src/build-size/native-walker.js';
import type { WalkPoolOptions } from '../../src/build-size/walk-pool.js';

export interface WalkerSetup {
  name: string;
  options: Pick<WalkPoolOptions, 'walker' | 'piecesPerWorker'>;
}

const ALL: WalkerSetup[] = [
  { name: 'native walker', options: { walker: 'native', piecesPerWorker: 0 } },
  { name: 'JS walker', options: { walker: 'js' } },
];

/** False under `DEVICE_BUILDER_WALKER=js`: the native walker's cases are left out. */
export const NATIVE_WALKER_TESTED = walkerChoiceFromEnv() !== 'js';

export const WALKER_SETUPS: WalkerSetup[] = NATIVE_WALKER_TESTED ? ALL : ALL.filter((setup) => setup.options.walker === 'js');

/** The environment that makes a child process's pool (test/fixtures/walk-once.ts) use `setup`. */
export function walkerEnv(setup: WalkerSetup): Record<string, string> {
  return {
    DEVICE_BUILDER_WALKER: setup.options.walker ?? 'auto',
    WALK_PIECES_PER_WORKER: String(setup.options.piecesPerWorker ?? ''),
  };
}

/** `describe.each(WALKER_CASES)('%s', (_name, setup) => ...)`: one suite per walker, named plainly. */
export const WALKER_CASES = WALKER_SETUPS.map((setup) => [setup.name, setup] as const);
