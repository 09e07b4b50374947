/**
 * Active and recent firmware jobs, live from the event stream: status,
 * device, when, how long; the log of each; Stop for the active ones.
 */
import { css, html, LitElement, nothing } from 'lit';
import { isFinished, type FirmwareJobSummary } from '../../../src/shared/jobs.js';
import { JOB_LABELS } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { StoreController } from '../state/store.js';
import { icon } from '../ui/icons.js';
import { ModalController } from '../ui/modal.js';
import { baseStyles, dialogStyles } from '../ui/styles.js';
import { formatDuration } from './job-log.js';

const STATUS_ICON = { queued: 'queued', running: 'running', completed: 'success', failed: 'failed', cancelled: 'cancelled' } as const;
const STATUS_TEXT = { queued: 'Queued', running: 'Running', completed: 'Completed', failed: 'Failed', cancelled: 'Stopped' } as const;
const ACTIVE_RANK = { running: 0, queued: 1 } as Record<string, number>;

/** Active first (running, then queued oldest first), then finished newest first. */
export function orderJobs(jobs: Iterable<FirmwareJobSummary>): FirmwareJobSummary[] {
  return [...jobs].sort((a, b) => {
    const aActive = !isFinished(a.status);
    const bActive = !isFinished(b.status);
    if (aActive !== bActive) return aActive ? -1 : 1;
    if (aActive) return (ACTIVE_RANK[a.status] ?? 2) - (ACTIVE_RANK[b.status] ?? 2) || a.created_at - b.created_at;
    return (b.completed_at ?? b.created_at) - (a.completed_at ?? a.created_at);
  });
}

function clock(seconds: number): string {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export class JobsDialogElement extends LitElement {
  static override properties = { ctx: { attribute: false } };
  declare ctx: AppContext | undefined;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private readonly modal = new ModalController(
    this,
    () => this.renderRoot.querySelector('dialog'),
    () => this.stopTicker(),
  );
  private ticker: ReturnType<typeof setInterval> | null = null;

  static override styles = [
    baseStyles,
    dialogStyles,
    css`
      dialog {
        width: min(720px, calc(100vw - 24px));
      }
      .dialog-body {
        padding: 0;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      li {
        display: grid;
        grid-template-columns: 28px minmax(0, 1fr) auto;
        gap: 4px 12px;
        align-items: center;
        padding: 10px 12px 10px 20px;
        border-bottom: 1px solid var(--border);
      }
      li:last-child {
        border-bottom: none;
      }
      .what {
        min-width: 0;
      }
      .what strong {
        font-weight: 600;
      }
      .when {
        font-size: 12.5px;
        color: var(--text-2);
        font-variant-numeric: tabular-nums;
      }
      .error {
        color: var(--danger);
        font-size: 12.5px;
        overflow-wrap: anywhere;
      }
      .buttons {
        display: flex;
        gap: 2px;
      }
      .section {
        padding: 10px 20px 6px;
        font-size: 12px;
        font-weight: 650;
        text-transform: uppercase;
        letter-spacing: 0.03em;
        color: var(--text-2);
        background: var(--surface-2);
        border-bottom: 1px solid var(--border);
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
  }

  async show(): Promise<void> {
    await this.updateComplete;
    this.modal.open();
    this.ticker ??= setInterval(() => this.requestUpdate(), 1000);
  }

  close(): void {
    this.modal.close();
  }

  private stopTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
  }

  private renderJob(job: FirmwareJobSummary) {
    const ctx = this.ctx;
    const name = ctx?.actions.subjectOf(job) ?? job.configuration;
    const now = Date.now() / 1000;
    const active = !isFinished(job.status);
    let when = `Queued ${clock(job.created_at)}`;
    if (job.status === 'running' && job.started_at) when = `Started ${clock(job.started_at)} · ${formatDuration(now - job.started_at)}`;
    else if (isFinished(job.status) && job.completed_at) {
      const took = job.started_at ? ` · took ${formatDuration(job.completed_at - job.started_at)}` : '';
      when = `${STATUS_TEXT[job.status]} ${clock(job.completed_at)}${took}`;
    }
    return html`<li data-job-id=${job.job_id}>
      <span class="status-${job.status}" title=${STATUS_TEXT[job.status]}>${icon(STATUS_ICON[job.status])}</span>
      <div class="what">
        <div><strong>${JOB_LABELS[job.job_type]}</strong> · ${name} <span class="chip status-${job.status}">${STATUS_TEXT[job.status]}</span></div>
        <div class="when">${when}</div>
        ${job.error && job.status === 'failed' ? html`<div class="error">${job.error}</div>` : nothing}
      </div>
      <div class="buttons">
        <button class="icon-btn" aria-label=${`Show log of ${JOB_LABELS[job.job_type]} ${name}`} title="Show log" @click=${() => ctx?.ui.openLog(job.job_id)}>
          ${icon('log')}
        </button>
        ${
          active
            ? html`<button
              class="icon-btn"
              aria-label=${`Cancel ${JOB_LABELS[job.job_type]} ${name}`}
              title="Cancel"
              @click=${() => void ctx?.actions.cancelJob(job)}
            >
              ${icon('stop')}
            </button>`
            : nothing
        }
      </div>
    </li>`;
  }

  override render() {
    const jobs = orderJobs(this.ctx?.store.jobs.values() ?? []);
    const active = jobs.filter((j) => !isFinished(j.status));
    const recent = jobs.filter((j) => isFinished(j.status));
    return html`
      <dialog aria-labelledby="jobs-title" @close=${this.modal.handleClose} @click=${this.modal.handleClick}>
        <div class="dialog-head">
          <h2 id="jobs-title">Jobs</h2>
          <button class="icon-btn" aria-label="Close" title="Close (Esc)" @click=${() => this.close()}>${icon('close')}</button>
        </div>
        <div class="dialog-body">
          ${jobs.length === 0 ? html`<div class="empty">No jobs yet. Compile, install or clean a device to start one.</div>` : nothing}
          ${
            active.length
              ? html`<div class="section">Active</div>
                <ul aria-label="Active jobs">
                  ${active.map((j) => this.renderJob(j))}
                </ul>`
              : nothing
          }
          ${
            recent.length
              ? html`<div class="section">Recent</div>
                <ul aria-label="Recent jobs">
                  ${recent.map((j) => this.renderJob(j))}
                </ul>`
              : nothing
          }
        </div>
        <div class="dialog-foot">
          <button class="btn" ?disabled=${recent.length === 0} @click=${() => void this.ctx?.actions.clearFinishedJobs()}>
            Clear finished
          </button>
          <button class="btn primary" @click=${() => this.close()}>Close</button>
        </div>
      </dialog>
    `;
  }
}

customElements.define('db-jobs-dialog', JobsDialogElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-jobs-dialog': JobsDialogElement;
  }
}
