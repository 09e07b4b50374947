/**
 * Transient notifications: job results, bulk outcomes, errors. A tiny
 * observable list; the toast component renders it. Errors stay longer than
 * successes, and only the newest few are kept on screen.
 */
export type ToastKind = 'success' | 'error' | 'info';

export interface ToastAction {
  label: string;
  run: () => void;
}

export interface Toast {
  id: number;
  kind: ToastKind;
  message: string;
  /** Extra lines, e.g. per-device results of a bulk action. */
  details: string[];
  action: ToastAction | null;
}

export interface ToastInput {
  kind: ToastKind;
  message: string;
  details?: string[];
  action?: ToastAction;
  /** Auto-dismiss after this long; 0 keeps it until dismissed. */
  timeoutMs?: number;
}

const MAX_VISIBLE = 5;
const DEFAULT_TIMEOUT: Record<ToastKind, number> = { success: 5000, info: 5000, error: 12000 };

export class Toasts {
  private items: Toast[] = [];
  private nextId = 1;
  private readonly listeners = new Set<() => void>();
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();

  get list(): readonly Toast[] {
    return this.items;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  show(input: ToastInput): number {
    const toast: Toast = {
      id: this.nextId++,
      kind: input.kind,
      message: input.message,
      details: input.details ?? [],
      action: input.action ?? null,
    };
    this.items = [...this.items, toast].slice(-MAX_VISIBLE);
    const timeout = input.timeoutMs ?? DEFAULT_TIMEOUT[input.kind];
    if (timeout > 0)
      this.timers.set(
        toast.id,
        setTimeout(() => this.dismiss(toast.id), timeout),
      );
    this.emit();
    return toast.id;
  }

  dismiss(id: number): void {
    const timer = this.timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(id);
    const before = this.items.length;
    this.items = this.items.filter((t) => t.id !== id);
    if (this.items.length !== before) this.emit();
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
