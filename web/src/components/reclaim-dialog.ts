/**
 * The reclaim panel (issue 14): the policy form, the live preview of the
 * plan it makes, "Run now" for exactly that plan, and the history of runs.
 *
 * The preview is the plan: as the user edits, the draft (not saved) is
 * sent as `reclaim/preview` after a pause in typing ({@link
 * PREVIEW_DEBOUNCE_MS}); only the newest answer is shown, and a refusal
 * naming a field is shown next to that field while the previous plan stays
 * (marked as such, and not runnable: "Run now" runs the plan on screen, by
 * its `plan_id`, so that plan must match the form). Everything else (the
 * saved policy, a run's progress, the history) comes from the store.
 */
import { css, html, LitElement, nothing } from 'lit';
import { formatBytes } from '../../../src/shared/format.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimPlan, type ReclaimRun } from '../../../src/shared/reclaim.js';
import type { AppContext } from '../state/context.js';
import {
  folderName,
  formDiffers,
  formFromPolicy,
  freeAfterText,
  inputFromForm,
  planRows,
  RUN_STATUS_LABELS,
  runProgress,
  stepName,
  stepsDoneText,
  TRIGGER_LABELS,
  type FieldError,
  type PolicyField,
  type ReclaimForm,
} from '../state/reclaim-model.js';
import { StoreController } from '../state/store.js';
import { icon } from '../ui/icons.js';
import { ModalController } from '../ui/modal.js';
import { baseStyles, dialogStyles } from '../ui/styles.js';

/** The pause in typing after which the draft is previewed. */
export const PREVIEW_DEBOUNCE_MS = 300;

interface FieldSpec {
  field: PolicyField;
  label: string;
  hint: string;
  placeholder: string;
  suffix?: string;
}

const FIELDS: readonly FieldSpec[] = [
  {
    field: 'max_total',
    label: 'Keep build folders under',
    hint: 'Total of all device build folders, e.g. 20GB or 500 MB. Least recently compiled are cleaned first.',
    placeholder: 'Off (e.g. 20GB)',
  },
  { field: 'older_than', label: 'Clean builds not compiled for', hint: 'e.g. 30d or 12h.', placeholder: 'Off (e.g. 30d)' },
  {
    field: 'unused_older_than',
    label: 'Delete unused build folders after',
    hint: 'Folders no device uses, untouched this long, e.g. 14d.',
    placeholder: 'Off (e.g. 14d)',
  },
  { field: 'min_free', label: 'Keep free at least', hint: "On the data dir's disk: a size or a share, e.g. 5GB or 10%.", placeholder: 'Off (e.g. 10%)' },
  {
    field: 'schedule_hours',
    label: 'Every',
    hint: 'Automatic runs on a timer; free space is also checked on every sweep.',
    placeholder: 'Off',
    suffix: 'hours',
  },
];

const STATUS_CHIP: Record<ReclaimRun['status'], string> = {
  running: 'status-running',
  completed: 'status-completed',
  partial: 'status-queued',
  failed: 'status-failed',
  interrupted: 'status-cancelled',
};

/** Why "Run now" is off, or what it does. */
function runTitle(running: boolean, plan: ReclaimPlan | null, current: boolean): string {
  if (running) return 'A run is in progress';
  if (!plan || !current) return 'Waiting for the preview of the values above';
  return plan.steps.length === 0 ? 'The plan is empty' : 'Run the plan shown, after a confirmation';
}

function when(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export class ReclaimDialogElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    form: { state: true },
    plan: { state: true },
    planCurrent: { state: true },
    previewing: { state: true },
    previewMessage: { state: true },
    errors: { state: true },
    saving: { state: true },
    saved: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare form: ReclaimForm;
  /** The last plan the server answered (kept while a later draft is refused). */
  declare plan: ReclaimPlan | null;
  /** True when `plan` is the plan of the form as it reads now. */
  declare planCurrent: boolean;
  declare previewing: boolean;
  /** A refusal of the preview that names no field. */
  declare previewMessage: string | null;
  declare errors: Partial<Record<FieldError['field'], string>>;
  declare saving: boolean;
  /** Set by a successful Save until the next edit: the footer says so (toasts sit under the modal's backdrop). */
  declare saved: boolean;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private readonly modal = new ModalController(
    this,
    () => this.renderRoot.querySelector('dialog'),
    () => this.closed(),
  );
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Numbers each preview request: an answer that is not the newest is dropped. */
  private sequence = 0;
  private offFinished: (() => void) | null = null;

  constructor() {
    super();
    this.form = formFromPolicy(DEFAULT_RECLAIM_POLICY);
    this.plan = null;
    this.planCurrent = false;
    this.previewing = false;
    this.previewMessage = null;
    this.errors = {};
    this.saving = false;
    this.saved = false;
  }

  static override styles = [
    baseStyles,
    dialogStyles,
    css`
      dialog {
        width: min(880px, calc(100vw - 24px));
      }
      h3 {
        margin: 0 0 10px;
        font-size: 13px;
        font-weight: 650;
        text-transform: uppercase;
        letter-spacing: 0.03em;
        color: var(--text-2);
      }
      h3:focus {
        outline: none;
      }
      section + section {
        margin-top: 22px;
        padding-top: 18px;
        border-top: 1px solid var(--border);
      }
      .toggle {
        display: flex;
        gap: 10px;
        align-items: flex-start;
        margin-bottom: 14px;
      }
      .toggle input {
        margin-top: 3px;
      }
      .toggle strong {
        font-weight: 600;
      }
      .fields {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(240px, 1fr));
        gap: 14px 18px;
      }
      .field label {
        display: block;
        margin-bottom: 4px;
        font-size: 13.5px;
        font-weight: 600;
      }
      .field .row {
        display: flex;
        align-items: center;
        gap: 8px;
      }
      .field input {
        width: 100%;
        min-width: 0;
        height: 36px;
        padding: 0 10px;
        border: 1px solid var(--border-strong);
        border-radius: var(--radius-s);
        background: var(--surface);
        color: var(--text);
        font: inherit;
      }
      .field input:focus-visible {
        outline: 2px solid var(--accent);
        outline-offset: -1px;
        border-color: var(--accent);
      }
      .field input[aria-invalid='true'] {
        border-color: var(--danger);
      }
      .hint {
        margin-top: 3px;
        font-size: 12.5px;
        color: var(--text-2);
      }
      .field-error {
        margin-top: 4px;
        font-size: 12.5px;
        font-weight: 550;
        color: var(--danger);
        overflow-wrap: anywhere;
      }
      .figures {
        display: flex;
        flex-wrap: wrap;
        gap: 6px 20px;
        margin-bottom: 10px;
        font-size: 14px;
      }
      .figures strong {
        font-variant-numeric: tabular-nums;
      }
      .note {
        margin: 0 0 10px;
        font-size: 13px;
        color: var(--text-2);
      }
      .note.warn {
        color: var(--danger);
      }
      .table-wrap {
        overflow-x: auto;
        border: 1px solid var(--border);
        border-radius: var(--radius-s);
      }
      table {
        width: 100%;
        border-collapse: collapse;
        font-size: 13.5px;
      }
      th,
      td {
        padding: 7px 10px;
        text-align: left;
        border-bottom: 1px solid var(--border);
        vertical-align: top;
      }
      th {
        font-size: 12px;
        font-weight: 650;
        color: var(--text-2);
        background: var(--surface-2);
      }
      tr:last-child td {
        border-bottom: none;
      }
      td.num,
      th.num {
        text-align: right;
        white-space: nowrap;
      }
      .what .path {
        display: block;
        font-family: var(--mono);
        font-size: 12px;
        color: var(--text-2);
        overflow-wrap: anywhere;
      }
      .phone {
        display: none;
      }
      ul.plain {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      .skipped li,
      .results li {
        padding: 3px 0;
        font-size: 13px;
        overflow-wrap: anywhere;
      }
      .skipped {
        margin-top: 12px;
      }
      .progress {
        margin-bottom: 14px;
        padding: 10px 12px;
        border-radius: var(--radius-s);
        background: var(--accent-soft);
        font-size: 13.5px;
      }
      .progress .bar {
        height: 4px;
        margin-top: 6px;
        border-radius: 2px;
        background: var(--surface);
        overflow: hidden;
      }
      .progress .bar span {
        display: block;
        height: 100%;
        background: var(--accent);
      }
      details.run {
        border-bottom: 1px solid var(--border);
      }
      details.run:last-child {
        border-bottom: none;
      }
      details.run summary {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 4px 12px;
        padding: 8px 2px;
        cursor: pointer;
        font-size: 13.5px;
      }
      details.run summary .when {
        font-variant-numeric: tabular-nums;
        font-weight: 600;
      }
      .run-body {
        padding: 0 2px 10px 18px;
        font-size: 13px;
      }
      .run-body p {
        margin: 0 0 6px;
        color: var(--text-2);
      }
      .ok {
        color: var(--success);
      }
      .bad {
        color: var(--danger);
      }
      .spacer {
        margin-right: auto;
      }
      .saved {
        align-self: center;
        font-size: 13.5px;
        font-weight: 600;
        color: var(--success);
      }
      @media (max-width: 600px) {
        .wide,
        .what .path {
          display: none;
        }
        .phone {
          display: block;
          font-size: 12.5px;
          color: var(--text-2);
        }
        .dialog-body {
          padding: 14px;
        }
        .dialog-foot .spacer {
          display: none;
        }
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) {
      this.storeController.attach();
      this.offFinished?.();
      this.offFinished = this.ctx?.store.onReclaimFinished(() => this.runFinished()) ?? null;
    }
  }

  override disconnectedCallback(): void {
    this.offFinished?.();
    this.offFinished = null;
    this.cancelTimer();
    super.disconnectedCallback();
  }

  get isOpen(): boolean {
    return this.modal.isOpen;
  }

  /** Opens with the saved policy in the form, previews it and reads the history; `preview` brings the plan into view. */
  async show(section?: 'preview'): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    if (!this.modal.isOpen) {
      this.form = formFromPolicy(ctx.store.reclaim?.policy ?? DEFAULT_RECLAIM_POLICY);
      this.errors = {};
      this.previewMessage = null;
      this.planCurrent = false;
      this.saved = false;
    }
    await this.updateComplete;
    this.modal.open();
    void ctx.actions.loadReclaimHistory();
    const previewed = this.preview();
    if (section === 'preview') {
      const heading = this.renderRoot.querySelector<HTMLElement>('#preview-title');
      heading?.scrollIntoView({ block: 'start' });
      heading?.focus({ preventScroll: true });
    }
    await previewed;
  }

  close(): void {
    this.modal.close();
  }

  /** Waits for a pending debounced preview (tests). */
  async previewNow(): Promise<void> {
    this.cancelTimer();
    await this.preview();
  }

  private closed(): void {
    this.cancelTimer();
    this.sequence++;
    this.previewing = false;
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private edit(change: Partial<ReclaimForm>, field: FieldError['field']): void {
    this.form = { ...this.form, ...change };
    this.saved = false;
    if (this.errors[field]) {
      const errors = { ...this.errors };
      delete errors[field];
      this.errors = errors;
    }
    this.planCurrent = false;
    this.cancelTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.preview();
    }, PREVIEW_DEBOUNCE_MS);
  }

  private async preview(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    const built = inputFromForm(this.form, ctx.store.reclaim?.policy ?? null);
    const sequence = ++this.sequence;
    if ('error' in built) {
      this.errors = { [built.error.field]: built.error.message };
      this.previewing = false;
      return;
    }
    this.previewing = true;
    const outcome = await ctx.actions.previewReclaim(built.input);
    if (sequence !== this.sequence) return;
    this.previewing = false;
    if (outcome.ok) {
      this.plan = outcome.value;
      this.planCurrent = true;
      this.errors = {};
      this.previewMessage = null;
    } else if (outcome.field) {
      this.errors = { [outcome.field.field]: outcome.field.message };
      this.previewMessage = null;
    } else {
      this.previewMessage = outcome.message;
    }
  }

  private async save(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx || this.saving) return;
    const built = inputFromForm(this.form, ctx.store.reclaim?.policy ?? null);
    if ('error' in built) {
      this.errors = { [built.error.field]: built.error.message };
      return;
    }
    this.saving = true;
    try {
      const outcome = await ctx.actions.saveReclaimPolicy(built.input);
      if (outcome.ok) {
        // The form now reads as saved (the server's numbers, spelled back).
        this.form = formFromPolicy(outcome.value.policy);
        this.errors = {};
        this.saved = true;
      } else if (outcome.field) {
        this.errors = { [outcome.field.field]: outcome.field.message };
      }
    } finally {
      this.saving = false;
    }
  }

  private async runNow(): Promise<void> {
    const ctx = this.ctx;
    const plan = this.plan;
    if (!ctx || !plan || !this.planCurrent || plan.steps.length === 0) return;
    if (!(await ctx.ui.confirm(ctx.actions.reclaimConfirmation(plan)))) return;
    await ctx.actions.runReclaim(plan);
  }

  /** A run ended: its history and the disk moved, so both are read again while open. */
  private runFinished(): void {
    if (!this.modal.isOpen || !this.ctx) return;
    void this.ctx.actions.loadReclaimHistory();
    if (this.timer === null) void this.preview();
  }

  // ---- rendering -----------------------------------------------------------

  private renderField(spec: FieldSpec) {
    const { field } = spec;
    const error = this.errors[field];
    const id = `f-${field}`;
    return html`<div class="field" data-field=${field}>
      <label for=${id}>${spec.label}</label>
      <div class="row">
        <input
          id=${id}
          name=${field}
          type="text"
          inputmode=${field === 'schedule_hours' ? 'decimal' : 'text'}
          autocomplete="off"
          spellcheck="false"
          placeholder=${spec.placeholder}
          .value=${this.form[field]}
          aria-invalid=${error ? 'true' : 'false'}
          aria-describedby=${`${id}-hint${error ? ` ${id}-error` : ''}`}
          @input=${(e: Event) => this.edit({ [field]: (e.target as HTMLInputElement).value }, field)}
        />
        ${spec.suffix ? html`<span class="muted">${spec.suffix}</span>` : nothing}
      </div>
      <div class="hint" id=${`${id}-hint`}>${spec.hint} Blank = off.</div>
      <div class="field-error" id=${`${id}-error`} aria-live="polite">${error ?? ''}</div>
    </div>`;
  }

  private renderPolicy() {
    const state = this.ctx?.store.reclaim;
    return html`<section aria-labelledby="policy-title">
      <h3 id="policy-title">Policy</h3>
      <label class="toggle">
        <input
          type="checkbox"
          name="enabled"
          .checked=${this.form.enabled}
          @change=${(e: Event) => this.edit({ enabled: (e.target as HTMLInputElement).checked }, 'enabled')}
        />
        <span>
          <strong>Run automatically</strong>
          <span class="hint" style="display:block">
            On the schedule below and whenever free space drops under "Keep free at least". Preview and Run now work either way.
            ${state?.next_run_at && state.policy.enabled ? html`Next run ${when(state.next_run_at)}.` : nothing}
          </span>
          ${this.errors.enabled ? html`<span class="field-error" style="display:block">${this.errors.enabled}</span>` : nothing}
        </span>
      </label>
      <div class="fields">${FIELDS.map((spec) => this.renderField(spec))}</div>
    </section>`;
  }

  private renderProgress(run: ReclaimRun) {
    const nameOf = (c: string) => this.ctx?.actions.nameOf(c) ?? c;
    const { current, total, subject } = runProgress(run, nameOf);
    const share = total > 0 ? Math.round((run.results.length / total) * 100) : 0;
    return html`<div class="progress" role="status" data-testid="reclaim-progress">
      Running: step ${current} of ${total}${subject ? html`: <strong>${subject}</strong>` : nothing}
      <div class="bar" role="presentation"><span style="width: ${share}%"></span></div>
    </div>`;
  }

  private renderPlan(plan: ReclaimPlan) {
    const nameOf = (c: string) => this.ctx?.actions.nameOf(c) ?? c;
    const rows = planRows(plan, nameOf, Date.now() / 1000);
    const after = freeAfterText(plan);
    const rulesOff = [plan.policy.max_total_bytes, plan.policy.older_than_seconds, plan.policy.unused_older_than_seconds, plan.policy.min_free].every(
      (rule) => rule === null,
    );
    return html`
      <div class="figures" data-testid="preview-figures">
        <span>Frees <strong data-testid="preview-total" data-bytes=${plan.frees_bytes}>${formatBytes(plan.frees_bytes)}</strong></span>
        ${after ? html`<span>Disk free <strong data-testid="preview-free">${after}</strong></span>` : nothing}
        <span>Build folders <strong>${formatBytes(plan.devices_total_bytes)} → ${formatBytes(plan.devices_total_after_bytes)}</strong></span>
      </div>
      ${
        rows.length === 0
          ? html`<p class="note" data-testid="preview-empty">
            ${rulesOff ? 'Every rule is off: set one above to see what it would clean.' : 'Nothing to clean: every rule is met.'}
          </p>`
          : html`<div class="table-wrap">
            <table aria-label="Steps in the order they run">
              <thead>
                <tr>
                  <th class="num wide" scope="col">#</th>
                  <th scope="col">What</th>
                  <th class="wide" scope="col">Rule</th>
                  <th class="wide" scope="col">Last compiled</th>
                  <th class="num" scope="col">Frees</th>
                </tr>
              </thead>
              <tbody>
                ${rows.map(
                  (row) => html`<tr data-build-path=${row.build_path}>
                    <td class="num wide">${row.order}</td>
                    <td class="what">
                      <span class="name">${row.name}</span> <span class="chip">${row.kind}</span>
                      <span class="path" title=${row.build_path}>${row.build_path}</span>
                      <span class="phone">${row.rule} · compiled ${row.lastCompiled}</span>
                    </td>
                    <td class="wide rule">${row.rule}</td>
                    <td class="wide">${row.lastCompiled}</td>
                    <td class="num" data-bytes=${row.bytes}>${formatBytes(row.bytes)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`
      }
      ${
        plan.skipped.length
          ? html`<div class="skipped">
            <h3>Left alone</h3>
            <ul class="plain" data-testid="preview-skipped">
              ${plan.skipped.map(
                (skip) => html`<li><strong>${skip.configuration ? nameOf(skip.configuration) : folderName(skip.build_path)}</strong>: ${skip.reason}</li>`,
              )}
            </ul>
          </div>`
          : nothing
      }
    `;
  }

  private renderPreview() {
    const plan = this.plan;
    const hasErrors = Object.keys(this.errors).length > 0;
    return html`<section aria-labelledby="preview-title" aria-busy=${this.previewing ? 'true' : 'false'} data-testid="reclaim-preview">
      <h3 id="preview-title" tabindex="-1">Preview${this.previewing ? html` <span class="muted">· updating…</span>` : nothing}</h3>
      ${this.previewMessage ? html`<p class="note warn" role="alert">Could not preview: ${this.previewMessage}</p>` : nothing}
      ${plan && !this.planCurrent && (hasErrors || this.previewMessage) ? html`<p class="note">Showing the plan for the last valid values.</p>` : nothing}
      ${plan ? this.renderPlan(plan) : html`<p class="note">${this.previewing ? 'Working out the plan…' : 'No preview yet.'}</p>`}
    </section>`;
  }

  private renderRun(run: ReclaimRun) {
    const nameOf = (c: string) => this.ctx?.actions.nameOf(c) ?? c;
    return html`<details class="run" data-run-id=${run.run_id}>
      <summary>
        <span class="when">${when(run.started_at)}</span>
        <span>${TRIGGER_LABELS[run.trigger]}</span>
        <span class="chip ${STATUS_CHIP[run.status]}">${RUN_STATUS_LABELS[run.status]}</span>
        <span>freed <strong data-bytes=${run.freed_bytes}>${formatBytes(run.freed_bytes)}</strong></span>
        <span class="muted">${stepsDoneText(run)}</span>
        ${run.skipped.length ? html`<span class="muted">${run.skipped.length} left alone</span>` : nothing}
      </summary>
      <div class="run-body">
        ${run.reason ? html`<p>${run.reason}</p>` : nothing}
        <ul class="plain results">
          ${run.steps.map((step) => {
            const result = run.results.find((r) => r.build_path === step.build_path);
            const name = stepName(step, nameOf);
            if (!result) return html`<li class="muted">○ ${name}: ${run.status === 'running' ? 'waiting' : 'not done'}</li>`;
            return result.ok
              ? html`<li><span class="ok">✓</span> ${name}: freed ${formatBytes(result.freed_bytes)}</li>`
              : html`<li><span class="bad">✗</span> ${name}: ${result.error ?? 'failed'}</li>`;
          })}
          ${run.skipped.map(
            (skip) => html`<li class="muted">– ${skip.configuration ? nameOf(skip.configuration) : folderName(skip.build_path)}: ${skip.reason}</li>`,
          )}
        </ul>
      </div>
    </details>`;
  }

  private renderHistory() {
    const store = this.ctx?.store;
    const runs = store?.reclaimRuns ?? [];
    return html`<section aria-labelledby="history-title" data-testid="reclaim-history">
      <h3 id="history-title">History</h3>
      ${
        runs.length === 0
          ? html`<p class="note">${store?.reclaimRunsLoaded ? 'No runs yet.' : 'Loading…'}</p>`
          : html`<div>${runs.map((run) => this.renderRun(run))}</div>`
      }
    </section>`;
  }

  override render() {
    const store = this.ctx?.store;
    const running = store?.reclaim?.running ?? null;
    const saved = store?.reclaim?.policy ?? null;
    const plan = this.plan;
    const canRun = !running && !!plan && this.planCurrent && !this.previewing && plan.steps.length > 0;
    const dirty = formDiffers(this.form, saved);
    return html`
      <dialog aria-labelledby="reclaim-title" @close=${this.modal.handleClose} @click=${this.modal.handleClick}>
        <div class="dialog-head">
          <h2 id="reclaim-title">Reclaim disk space</h2>
          <button class="icon-btn" aria-label="Close" title="Close (Esc)" @click=${() => this.close()}>${icon('close')}</button>
        </div>
        <div class="dialog-body">
          ${running ? this.renderProgress(running) : nothing} ${this.renderPolicy()} ${this.renderPreview()} ${this.renderHistory()}
        </div>
        <div class="dialog-foot">
          <button class="btn ghost" @click=${() => this.close()}>Close</button>
          <span class="spacer"></span>
          <span class="saved" role="status" data-testid="reclaim-saved">${this.saved ? html`${icon('check')} Saved` : nothing}</span>
          <button
            class="btn danger run"
            ?disabled=${!canRun}
            title=${runTitle(running !== null, plan, this.planCurrent && !this.previewing)}
            @click=${() => void this.runNow()}
          >
            ${icon('broom')} Run now
          </button>
          <button class="btn primary save" ?disabled=${this.saving || !dirty} @click=${() => void this.save()}>${this.saving ? 'Saving…' : 'Save'}</button>
        </div>
      </dialog>
    `;
  }
}

customElements.define('db-reclaim-dialog', ReclaimDialogElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-reclaim-dialog': ReclaimDialogElement;
  }
}
