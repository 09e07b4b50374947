/**
 * Server-wide WebSocket limits, shared by every connection:
 *
 * - {@link ConnectionLimiter}: open sockets per source address and in total.
 *   Past either, an upgrade is refused with HTTP 503 (checked before the
 *   upgrade) or, if it raced past that check, closed at once with 1013
 *   "try again later".
 * - {@link OutboundBudget}: bytes queued for all sockets together (handed to
 *   `ws`, not yet taken by the kernel; each frame also counts
 *   {@link FRAME_OVERHEAD_BYTES} for its bookkeeping). Past the budget the
 *   socket with the most queued bytes is dropped (1013) and new sockets are
 *   refused until the total is back under it. The per-socket limit (the slow
 *   client, ws-api.ts) still applies on its own.
 *
 * - Streams per address and in total ({@link DEFAULT_MAX_STREAMS_PER_ADDRESS},
 *   {@link DEFAULT_MAX_STREAMS}), counted with a second {@link ConnectionLimiter}:
 *   past them a streaming command answers `invalid_args`.
 *
 * Without these, 300 sockets × 32 streams each could hold 8 MiB or 5,000
 * frames apiece: over a gigabyte of queued frames (see docs/RELIABILITY.md).
 */

export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 16;
export const DEFAULT_MAX_CONNECTIONS = 256;
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/**
 * Streams per source address and in total. A page holds two or three; each
 * stream multiplies every event (a 20,000-line job is 20,000 frames per
 * stream), so these bound the fan-out of one event, not only memory.
 */
export const DEFAULT_MAX_STREAMS_PER_ADDRESS = 64;
export const DEFAULT_MAX_STREAMS = 1024;
/**
 * What a queued frame costs besides its text: the Buffer ws makes of it, its
 * frame header, the write request and our callback. Small frames (a 137-byte
 * `job_output`) are mostly overhead, so the budget must count it.
 */
export const FRAME_OVERHEAD_BYTES = 512;

export type RefusalReason = 'per_address' | 'total' | 'overloaded';

export class ConnectionLimiter {
  private readonly byAddress = new Map<string, number>();
  private total = 0;

  constructor(
    readonly maxPerAddress = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    readonly maxTotal = DEFAULT_MAX_CONNECTIONS,
  ) {}

  get size(): number {
    return this.total;
  }

  /** Why a socket from `address` would be refused now, or null. */
  check(address: string): RefusalReason | null {
    if (this.total >= this.maxTotal) return 'total';
    if ((this.byAddress.get(address) ?? 0) >= this.maxPerAddress) return 'per_address';
    return null;
  }

  /** Counts a socket in, unless a limit refuses it; `release` it exactly once when it closes. */
  acquire(address: string): RefusalReason | null {
    const refused = this.check(address);
    if (refused) return refused;
    this.total++;
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    return null;
  }

  release(address: string): void {
    const count = this.byAddress.get(address) ?? 0;
    if (count <= 0) return;
    this.total--;
    if (count === 1) this.byAddress.delete(address);
    else this.byAddress.set(address, count - 1);
  }
}

/** One socket as the budget sees it. */
export interface BudgetMember {
  /** Bytes queued for it that count against the slow-client limit. */
  readonly queuedBytes: number;
  /** Disconnects it (close code 1013); it must `leave` the budget, releasing what it holds. */
  shed(): void;
}

export class OutboundBudget {
  private total = 0;
  private readonly members = new Set<BudgetMember>();

  constructor(
    readonly maxBytes = DEFAULT_MAX_QUEUED_BYTES,
    private readonly onShed?: (member: BudgetMember, total: number) => void,
  ) {}

  /** Everything queued for every socket (frame overhead included). */
  get queuedBytes(): number {
    return this.total;
  }

  /** Over the budget: new sockets are refused. */
  get overloaded(): boolean {
    return this.total > this.maxBytes;
  }

  join(member: BudgetMember): void {
    this.members.add(member);
  }

  leave(member: BudgetMember, holding: number): void {
    this.members.delete(member);
    this.release(holding);
  }

  add(bytes: number): void {
    this.total += bytes;
    // Shed the worst offenders until back under; each shed releases what it held.
    let guard = this.members.size;
    while (this.total > this.maxBytes && guard-- > 0) {
      const victim = this.slowest();
      if (!victim) return;
      this.onShed?.(victim, this.total);
      victim.shed();
    }
  }

  release(bytes: number): void {
    this.total = Math.max(0, this.total - bytes);
  }

  /** The member with the most queued bytes; null when nobody holds any (only exempt snapshots in flight). */
  private slowest(): BudgetMember | null {
    let worst: BudgetMember | null = null;
    for (const member of this.members) {
      if (member.queuedBytes > (worst?.queuedBytes ?? 0)) worst = member;
    }
    return worst;
  }
}
