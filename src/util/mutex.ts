/**
 * A minimal async mutex: callers run one at a time in arrival order. Used
 * around read-modify-write of shared files so two updates in the same
 * process never interleave and lose each other's changes.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // The chain must survive a failed task, or one error would wedge every later caller.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
