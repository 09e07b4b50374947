/**
 * One process at a time runs jobs on a data dir: `serve` holds this lock
 * for its whole life, and `device-builder reclaim --yes` (which runs clean
 * jobs through a job queue of its own) takes it for its run. Both rewrite
 * the job history and the reclaim record, and a second job queue starting
 * up would mark the first one's running jobs as interrupted; so the second
 * is refused with a message, never run beside the first.
 *
 * A `flock` on `<data>/.device-builder-ts-serve.lock` (util/file-lock.ts):
 * the kernel drops it when its holder dies, so a crashed server never
 * needs cleaning up after. Within one process (tests start many servers)
 * a set of held paths answers at once instead of queueing on the lock's
 * in-process mutex.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FileLockError, lockPathOf, withFileLock } from '../util/file-lock.js';

/** The lock's file is this name plus `.lock`, in the data dir. */
export const INSTANCE_LOCK_BASENAME = '.device-builder-ts-serve';

export class InstanceLockBusyError extends Error {
  constructor(readonly dataDir: string) {
    super(`another device-builder process is running jobs on ${dataDir} (a serve, or a reclaim run): stop it, or use its page or API`);
    this.name = 'InstanceLockBusyError';
  }
}

export interface InstanceLock {
  readonly lockPath: string;
  release(): Promise<void>;
}

const heldHere = new Set<string>();

/** Takes the data dir's instance lock without waiting; throws {@link InstanceLockBusyError} when someone holds it. */
export async function takeInstanceLock(dataDir: string): Promise<InstanceLock> {
  const file = path.join(dataDir, INSTANCE_LOCK_BASENAME);
  const lockPath = lockPathOf(file);
  if (heldHere.has(lockPath)) throw new InstanceLockBusyError(dataDir);
  heldHere.add(lockPath);
  try {
    // ESPHome creates the data dir on its first compile; a server may start before that.
    await fsp.mkdir(dataDir, { recursive: true });
    let acquired!: () => void;
    const ready = new Promise<void>((resolve) => (acquired = resolve));
    let letGo!: () => void;
    const released = new Promise<void>((resolve) => (letGo = resolve));
    const held = withFileLock(
      file,
      async () => {
        acquired();
        await released;
      },
      { waitMs: 0 },
    );
    await Promise.race([ready, held]);
    return {
      lockPath,
      release: async () => {
        letGo();
        await held.finally(() => heldHere.delete(lockPath));
      },
    };
  } catch (err) {
    heldHere.delete(lockPath);
    if (err instanceof FileLockError && err.code === 'ELOCKTIMEOUT') throw new InstanceLockBusyError(dataDir);
    throw err;
  }
}
