/**
 * One background worker that drains a set of pending keys, one drain cycle
 * at a time. `request()` is synchronous and only records the wish, so any
 * caller (a job's completion handler, a file watcher) can ask without
 * awaiting; repeated requests before the worker gets to them coalesce.
 * A key requested while its cycle runs stays pending and is handled once
 * more afterwards, since whatever it stands for may have changed meanwhile.
 *
 * Errors in one cycle are the subclass's to isolate per key; anything that
 * escapes a cycle is logged and the worker goes on. There is no timer: the
 * worker sleeps until woken.
 */
import type { Logger } from '../util/log.js';

export class WorkerStoppedError extends Error {
  constructor() {
    super('worker stopped');
  }
}

export abstract class WakeWorker<K> {
  protected readonly pending = new Set<K>();
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private stopping = false;
  private busy = false;
  private idleWaiters: (() => void)[] = [];
  private readonly abortController = new AbortController();

  constructor(
    protected readonly name: string,
    protected readonly log: Logger,
  ) {}

  /** Aborted by `stop()`: long awaits inside a cycle should race it. */
  protected get abortSignal(): AbortSignal {
    return this.abortController.signal;
  }

  /** Runs once before the first drain (e.g. a fleet sweep). */
  protected async initial(): Promise<void> {}

  /** Handles one batch of keys taken from the pending set. */
  protected abstract drain(keys: K[]): Promise<void>;

  /** Extra work the subclass has queued besides keys (e.g. a sweep). */
  protected hasExtraWork(): boolean {
    return false;
  }

  get running(): boolean {
    return this.loop !== null;
  }

  /** Starts the worker; a second call keeps the one worker. */
  start(): void {
    if (this.loop || this.stopping) return;
    this.loop = this.run();
  }

  request(key: K): void {
    if (this.stopping) return;
    this.pending.add(key);
    this.notify();
  }

  /** Wakes the worker for work the subclass queued itself. */
  protected notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resolves once nothing is pending and no cycle is running. */
  whenIdle(): Promise<void> {
    if (!this.loop || this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops the worker: no new requests, the running cycle is told to abort,
   * and the loop is awaited. A no-op when it never started.
   */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.abortController.abort(new WorkerStoppedError());
    this.notify();
    try {
      await this.loop;
    } catch (err) {
      this.log.error({ err, worker: this.name }, 'background worker failed');
    } finally {
      this.loop = null;
      this.releaseIdleWaiters();
    }
  }

  private isIdle(): boolean {
    return !this.busy && this.pending.size === 0 && !this.hasExtraWork();
  }

  private releaseIdleWaiters(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async run(): Promise<void> {
    this.busy = true;
    await this.guard('initial pass', () => this.initial());
    while (!this.stopping) {
      if (this.pending.size === 0 && !this.hasExtraWork()) {
        this.busy = false;
        this.releaseIdleWaiters();
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.busy = true;
        continue;
      }
      const keys = [...this.pending];
      this.pending.clear();
      await this.guard('drain', () => this.drain(keys));
    }
    this.busy = false;
  }

  private async guard(what: string, task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (err) {
      if (this.stopping && this.abortSignal.aborted) return;
      this.log.error({ err, worker: this.name }, `background worker ${what} failed; carrying on`);
    }
  }
}

/** Rejects with the signal's reason as soon as it aborts; otherwise settles like `promise`. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
