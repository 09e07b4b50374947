/**
 * The live log of one firmware job (`firmware/follow_job`): its output so
 * far, then every new line as it comes, ANSI colours rendered by the safe
 * renderer in ui/ansi.ts (DOM nodes and textContent only, never HTML).
 *
 * Lines are appended to the DOM directly, batched per frame, rather than
 * re-rendered by Lit: a compile prints thousands of lines and each one must
 * cost O(1). The view sticks to the bottom unless the user scrolled up, in
 * which case a "Jump to latest" button appears. Stop cancels the job.
 * Closing the log ends the follow on the server too (`unsubscribe`). After
 * a reconnect the job is followed again from its history.
 */
import { css, html, LitElement, nothing } from 'lit';
import { isServerEvent } from '../../../src/shared/events.js';
import { isFinished, type FirmwareJobSummary } from '../../../src/shared/jobs.js';
import type { StreamHandle } from '../api/client.js';
import { JOB_LABELS } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { StoreController } from '../state/store.js';
import { AnsiParser, renderAnsiLine } from '../ui/ansi.js';
import { icon } from '../ui/icons.js';
import { ModalController } from '../ui/modal.js';
import { baseStyles, dialogStyles } from '../ui/styles.js';

/** Older lines are dropped from the view past this many. */
export const MAX_LOG_LINES = 5000;
const STICK_SLACK_PX = 24;

const STATUS_TEXT = {
  queued: 'Queued',
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Stopped',
} as const;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.floor(seconds % 60);
  return `${m} min ${s.toString().padStart(2, '0')} s`;
}

export class JobLogElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    jobId: { state: true },
    followed: { state: true },
    stuck: { state: true },
    loading: { state: true },
    followError: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare jobId: string | null;
  /** The job as the follow stream last reported it. */
  declare followed: FirmwareJobSummary | null;
  declare stuck: boolean;
  declare loading: boolean;
  declare followError: string | null;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private readonly modal = new ModalController(
    this,
    () => this.renderRoot.querySelector('dialog'),
    () => this.stopFollowing(),
  );
  private handle: StreamHandle<unknown> | null = null;
  private parser = new AnsiParser();
  private pending: string[] = [];
  private framePending = false;
  private lineCount = 0;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private offReady: (() => void) | null = null;

  constructor() {
    super();
    this.jobId = null;
    this.followed = null;
    this.stuck = true;
    this.loading = false;
    this.followError = null;
  }

  static override styles = [
    baseStyles,
    dialogStyles,
    css`
      dialog {
        width: min(1040px, calc(100vw - 24px));
        height: min(84vh, 860px);
      }
      .dialog-head .title {
        flex: 1;
        min-width: 0;
      }
      .dialog-head h2 {
        font-size: 16px;
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .dialog-head .sub {
        font-size: 12.5px;
        color: var(--text-2);
        font-family: var(--mono);
      }
      .body {
        position: relative;
        flex: 1;
        min-height: 0;
        background: var(--term-bg);
      }
      .terminal {
        position: absolute;
        inset: 0;
        overflow: auto;
        padding: 12px 16px;
        background: var(--term-bg);
        color: var(--term-text);
        font-family: var(--mono);
        font-size: 12.5px;
        line-height: 1.5;
        white-space: pre-wrap;
        overflow-wrap: anywhere;
        color-scheme: dark;
      }
      .overlay {
        position: absolute;
        inset: 0;
        padding: 12px 16px;
        font-family: var(--mono);
        font-size: 12.5px;
        pointer-events: none;
      }
      .terminal .line {
        min-height: 1.5em;
      }
      .placeholder {
        color: #8b96a1;
        font-style: italic;
      }
      .jump {
        position: absolute;
        right: 20px;
        bottom: 16px;
        box-shadow: var(--shadow-2);
      }
      .dialog-foot {
        align-items: center;
      }
      .summary {
        flex: 1;
        min-width: 0;
        font-size: 13px;
        color: var(--text-2);
      }
      .summary.failed {
        color: var(--danger);
        font-weight: 550;
      }
      /* The 16 ANSI colours, readable on the dark terminal in both themes. */
      .ansi-fg-0 { color: #5c6773; }
      .ansi-fg-1 { color: #ff6b6b; }
      .ansi-fg-2 { color: #7bd88f; }
      .ansi-fg-3 { color: #f2c66d; }
      .ansi-fg-4 { color: #6cb6ff; }
      .ansi-fg-5 { color: #d6a0ff; }
      .ansi-fg-6 { color: #5fd7e0; }
      .ansi-fg-7 { color: #d6dde4; }
      .ansi-fg-8 { color: #8b96a1; }
      .ansi-fg-9 { color: #ff8f8f; }
      .ansi-fg-10 { color: #9ff0ae; }
      .ansi-fg-11 { color: #ffe08a; }
      .ansi-fg-12 { color: #9ccfff; }
      .ansi-fg-13 { color: #e7c1ff; }
      .ansi-fg-14 { color: #8eeef5; }
      .ansi-fg-15 { color: #ffffff; }
      .ansi-bg-0 { background: #1b222a; }
      .ansi-bg-1 { background: #5c1f1f; }
      .ansi-bg-2 { background: #1e4a2a; }
      .ansi-bg-3 { background: #5a4714; }
      .ansi-bg-4 { background: #163c66; }
      .ansi-bg-5 { background: #4a2a63; }
      .ansi-bg-6 { background: #164a50; }
      .ansi-bg-7 { background: #9aa5b1; }
      .ansi-bg-8 { background: #39434e; }
      .ansi-bg-9 { background: #8a2f2f; }
      .ansi-bg-10 { background: #2d6e3e; }
      .ansi-bg-11 { background: #806a1f; }
      .ansi-bg-12 { background: #245a96; }
      .ansi-bg-13 { background: #6c3f91; }
      .ansi-bg-14 { background: #226d75; }
      .ansi-bg-15 { background: #d6dde4; }
      .ansi-bold { font-weight: 700; }
      .ansi-dim { opacity: 0.7; }
      .ansi-italic { font-style: italic; }
      .ansi-underline { text-decoration: underline; }
      @media (max-width: 560px) {
        dialog {
          width: 100vw;
          height: 100dvh;
          max-height: 100dvh;
          max-width: 100vw;
          border-radius: 0;
        }
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) {
      this.storeController.attach();
      this.offReady?.();
      // Streams end with the connection: follow again once it is back.
      this.offReady =
        this.ctx?.client.onReady(() => {
          if (this.modal.isOpen) this.follow();
        }) ?? null;
    }
  }

  override disconnectedCallback(): void {
    this.stopFollowing();
    this.offReady?.();
    this.offReady = null;
    super.disconnectedCallback();
  }

  /** Opens the log of a job and follows it. */
  async show(jobId: string): Promise<void> {
    this.jobId = jobId;
    this.followed = this.ctx?.store.jobs.get(jobId) ?? null;
    this.stuck = true;
    await this.updateComplete;
    this.modal.open();
    this.follow();
    this.ticker ??= setInterval(() => {
      if (this.job && !isFinished(this.job.status)) this.requestUpdate();
    }, 1000);
  }

  close(): void {
    this.modal.close();
  }

  get isOpen(): boolean {
    return this.modal.isOpen;
  }

  /** The job's latest known state: the event stream, else what the follow said. */
  get job(): FirmwareJobSummary | null {
    if (!this.jobId) return null;
    const fromStore = this.ctx?.store.jobs.get(this.jobId);
    const followed = this.followed;
    if (fromStore && followed) {
      // A finished state wins over a stale running one, whichever source has it.
      return isFinished(followed.status) && !isFinished(fromStore.status) ? followed : fromStore;
    }
    return fromStore ?? followed;
  }

  private get terminal(): HTMLElement | null {
    return this.renderRoot.querySelector('.terminal');
  }

  private follow(): void {
    const ctx = this.ctx;
    const jobId = this.jobId;
    if (!ctx || !jobId) return;
    this.handle?.close();
    this.clearTerminal();
    this.loading = true;
    this.followError = null;
    let ready = false;
    const early: string[] = [];
    const handle = ctx.client.stream('firmware/follow_job', { job_id: jobId }, (event, data) => {
      const frame = { event, data };
      if (!isServerEvent(frame)) return;
      switch (frame.event) {
        case 'job_output':
          if (ready) this.appendLines([frame.data.line]);
          else early.push(frame.data.line);
          break;
        case 'job_queued':
        case 'job_started':
        case 'job_completed':
        case 'job_failed':
        case 'job_cancelled':
          this.followed = frame.data;
          break;
      }
    });
    this.handle = handle;
    handle.result.then(
      (result) => {
        if (this.handle !== handle) return;
        ready = true;
        this.loading = false;
        if (result.job && !(this.followed && isFinished(this.followed.status))) this.followed = result.job;
        this.appendLines([...result.history, ...early]);
      },
      (err: unknown) => {
        if (this.handle !== handle) return;
        this.loading = false;
        this.followError = err instanceof Error ? err.message : String(err);
      },
    );
  }

  private stopFollowing(): void {
    this.handle?.close();
    this.handle = null;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    this.pending = [];
  }

  private clearTerminal(): void {
    this.parser = new AnsiParser();
    this.pending = [];
    this.lineCount = 0;
    this.terminal?.replaceChildren();
  }

  private appendLines(lines: string[]): void {
    if (lines.length === 0) return;
    this.pending.push(...lines);
    if (this.framePending) return;
    this.framePending = true;
    const flush = () => {
      this.framePending = false;
      this.flush();
    };
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible') requestAnimationFrame(flush);
    else setTimeout(flush, 16);
  }

  /** Appends the pending lines in one DOM write, trims old ones, keeps the view pinned to the bottom. */
  private flush(): void {
    const terminal = this.terminal;
    if (!terminal) return;
    let lines = this.pending;
    this.pending = [];
    if (lines.length > MAX_LOG_LINES) lines = lines.slice(-MAX_LOG_LINES);
    const fragment = document.createDocumentFragment();
    for (const line of lines) fragment.append(renderAnsiLine(document, this.parser.parse(line)));
    terminal.append(fragment);
    this.lineCount += lines.length;
    while (this.lineCount > MAX_LOG_LINES && terminal.firstChild) {
      terminal.firstChild.remove();
      this.lineCount--;
    }
    if (this.stuck) terminal.scrollTop = terminal.scrollHeight;
  }

  private onScroll(): void {
    const terminal = this.terminal;
    if (!terminal) return;
    const atBottom = terminal.scrollTop + terminal.clientHeight >= terminal.scrollHeight - STICK_SLACK_PX;
    if (atBottom !== this.stuck) this.stuck = atBottom;
  }

  private jumpToLatest(): void {
    const terminal = this.terminal;
    if (terminal) terminal.scrollTop = terminal.scrollHeight;
    this.stuck = true;
  }

  private summaryText(job: FirmwareJobSummary): string {
    const now = Date.now() / 1000;
    if (job.status === 'queued') return 'Waiting for the jobs before it…';
    if (job.status === 'running') return `Running for ${formatDuration(now - (job.started_at ?? now))}`;
    const took = job.started_at !== null && job.completed_at !== null ? formatDuration(job.completed_at - job.started_at) : '';
    if (job.status === 'completed') return `Completed${took ? ` in ${took}` : ''}`;
    if (job.status === 'failed') return `Failed${job.error ? `: ${job.error}` : job.exit_code !== null ? ` (exit code ${job.exit_code})` : ''}`;
    return `Stopped${job.error ? `: ${job.error}` : ''}`;
  }

  override render() {
    const job = this.job;
    const name = job ? (this.ctx?.actions.subjectOf(job) ?? job.configuration) : '';
    const sub = job?.job_type === 'reset_build_env' ? 'esphome clean-all' : job?.configuration;
    const active = job !== null && !isFinished(job.status);
    return html`
      <dialog aria-labelledby="log-title" @close=${this.modal.handleClose} @click=${this.modal.handleClick}>
        <div class="dialog-head">
          ${job ? html`<span class="chip status-${job.status}">${STATUS_TEXT[job.status]}</span>` : nothing}
          <div class="title">
            <h2 id="log-title">${job ? `${JOB_LABELS[job.job_type]} · ${name}` : 'Job log'}</h2>
            ${job ? html`<div class="sub">${sub}</div>` : nothing}
          </div>
          <button class="icon-btn" aria-label="Close log" title="Close (Esc)" @click=${() => this.close()}>
            ${icon('close')}
          </button>
        </div>
        <div class="body">
          <div class="terminal" role="log" aria-label="Job output" aria-live="off" tabindex="0" @scroll=${this.onScroll}></div>
          ${this.loading ? html`<div class="overlay placeholder" aria-hidden="true">Loading output…</div>` : nothing}
          ${this.followError ? html`<div class="overlay placeholder" role="alert">Could not follow this job: ${this.followError}</div>` : nothing}
          ${!this.stuck ? html`<button class="btn primary jump" @click=${this.jumpToLatest}>${icon('arrowDown')} Jump to latest</button>` : nothing}
        </div>
        <div class="dialog-foot">
          <span class="summary ${job?.status === 'failed' ? 'failed' : ''}" role="status" data-testid="job-summary"
            >${job ? this.summaryText(job) : ''}</span
          >
          ${
            active
              ? html`<button class="btn danger" @click=${() => job && void this.ctx?.actions.cancelJob(job)}>
                ${icon('stop')} Stop
              </button>`
              : nothing
          }
          <button class="btn" @click=${() => this.close()}>Close</button>
        </div>
      </dialog>
    `;
  }
}

customElements.define('db-job-log', JobLogElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-job-log': JobLogElement;
  }
}
