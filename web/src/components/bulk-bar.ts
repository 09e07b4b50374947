/**
 * The bar that appears when devices are selected: Clean, Compile, Archive,
 * Delete for all of them at once. Destructive actions ask first (listing
 * the devices, and for Clean what it frees); the outcome per device comes
 * back as a toast from {@link Actions.bulk}.
 */
import { css, html, LitElement } from 'lit';
import { formatBytes } from '../../../src/shared/format.js';
import { freesText, plural, type BulkKind } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { icon, type IconName } from '../ui/icons.js';
import { baseStyles } from '../ui/styles.js';

interface BulkSpec {
  kind: BulkKind;
  label: string;
  icon: IconName;
  danger: boolean;
  confirm: boolean;
}

const SPECS: BulkSpec[] = [
  { kind: 'clean', label: 'Clean', icon: 'broom', danger: false, confirm: true },
  { kind: 'compile', label: 'Compile', icon: 'compile', danger: false, confirm: false },
  { kind: 'archive', label: 'Archive', icon: 'archive', danger: false, confirm: true },
  { kind: 'delete', label: 'Delete', icon: 'trash', danger: true, confirm: true },
];

export class BulkBarElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    selected: { attribute: false },
    busy: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare selected: readonly string[];
  declare busy: BulkKind | null;

  constructor() {
    super();
    this.selected = [];
    this.busy = null;
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        position: sticky;
        bottom: 16px;
        z-index: 15;
        display: flex;
        justify-content: center;
        pointer-events: none;
      }
      .bar {
        pointer-events: auto;
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 8px;
        padding: 8px 8px 8px 16px;
        border-radius: 14px;
        background: var(--header-bg);
        color: var(--header-text);
        box-shadow: var(--shadow-2);
        animation: rise 0.16s ease-out;
      }
      @keyframes rise {
        from {
          opacity: 0;
          transform: translateY(10px);
        }
      }
      .count {
        font-weight: 650;
        margin-right: 6px;
        white-space: nowrap;
      }
      .size {
        font-weight: 400;
        opacity: 0.75;
        font-variant-numeric: tabular-nums;
      }
      .btn {
        background: transparent;
        color: inherit;
        border-color: rgb(255 255 255 / 22%);
      }
      .btn:hover:not(:disabled) {
        background: rgb(255 255 255 / 10%);
      }
      .btn.danger {
        color: #ff9d94;
        border-color: rgb(255 140 130 / 45%);
      }
      .btn.danger:hover:not(:disabled) {
        background: rgb(255 120 110 / 14%);
      }
      .icon-btn {
        color: inherit;
      }
      .icon-btn:hover:not(:disabled) {
        background: rgb(255 255 255 / 12%);
        color: inherit;
      }
      @media (max-width: 640px) {
        :host {
          bottom: 8px;
        }
        .bar {
          gap: 6px;
          padding: 8px;
          justify-content: center;
        }
        .count {
          flex-basis: 100%;
          text-align: center;
        }
        .label {
          display: none;
        }
        .btn {
          padding: 0 12px;
        }
      }
    `,
  ];

  private async run(spec: BulkSpec): Promise<void> {
    const ctx = this.ctx;
    if (!ctx || this.busy) return;
    const configurations = [...this.selected];
    if (spec.confirm) {
      const names = configurations.map((c) => ctx.actions.nameOf(c));
      const messages: Record<BulkKind, string> = {
        clean: `Delete the build files of ${plural(configurations.length, 'device')}? They are rebuilt on the next compile. ${freesText(ctx.actions.sizeOf(configurations))}`,
        compile: '',
        archive: `Move the configuration of ${plural(configurations.length, 'device')} to the archive folder and delete their build folders? You can restore them later.`,
        delete: `Permanently delete the configuration and build files of ${plural(configurations.length, 'device')}? This cannot be undone.`,
      };
      const ok = await ctx.ui.confirm({
        title: `${spec.label} ${plural(configurations.length, 'device')}?`,
        message: messages[spec.kind].trim(),
        items: names,
        confirmLabel: spec.label,
        danger: spec.danger,
      });
      if (!ok) return;
    }
    this.busy = spec.kind;
    try {
      const results = await ctx.actions.bulk(spec.kind, configurations);
      const done = results.filter((r) => r.success).map((r) => r.configuration);
      if (spec.kind === 'archive' || spec.kind === 'delete') {
        this.dispatchEvent(new CustomEvent('bulk-done', { detail: { remove: done }, bubbles: true, composed: true }));
      }
    } finally {
      this.busy = null;
    }
  }

  override render() {
    const count = this.selected.length;
    if (count === 0) return html``;
    const bytes = this.ctx?.actions.sizeOf(this.selected) ?? 0;
    return html`
      <div class="bar" role="toolbar" aria-label="Actions for selected devices">
        <span class="count" aria-live="polite"
          >${count} selected${bytes > 0 ? html` <span class="size">· ${formatBytes(bytes)}</span>` : ''}</span
        >
        ${SPECS.map(
          (spec) => html`
            <button
              class="btn ${spec.danger ? 'danger' : ''}"
              ?disabled=${this.busy !== null}
              aria-label=${`${spec.label} selected`}
              @click=${() => void this.run(spec)}
            >
              ${this.busy === spec.kind ? icon('running') : icon(spec.icon)}<span class="label">${spec.label}</span>
            </button>
          `,
        )}
        <button
          class="icon-btn"
          aria-label="Clear selection"
          title="Clear selection"
          @click=${() => this.dispatchEvent(new CustomEvent('clear-selection', { bubbles: true, composed: true }))}
        >
          ${icon('close')}
        </button>
      </div>
    `;
  }
}

customElements.define('db-bulk-bar', BulkBarElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-bulk-bar': BulkBarElement;
  }
}
