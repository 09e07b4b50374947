/**
 * "Unused build folders": build folders no device uses any more (deleted or
 * renamed devices, YAMLs moved away by hand), largest first, with what they
 * add up to and a Delete per folder (after a confirmation). Live from
 * `orphans_updated`; when there are none it says so in one calm line.
 *
 * Rows show the folder's name and, when the folders do not all sit in the
 * same place, a shortened parent path; the full path is in the tooltip and
 * in the confirmation.
 */
import { css, html, LitElement, nothing } from 'lit';
import { formatBytes } from '../../../src/shared/format.js';
import type { OrphanBuild } from '../../../src/shared/protocol.js';
import { plural } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { commonParent, orphanTotal, shortenPath, splitPath } from '../state/storage-model.js';
import { StoreController } from '../state/store.js';
import { icon } from '../ui/icons.js';
import { baseStyles, chartStyles, panelStyles } from '../ui/styles.js';

/** Rows shown before "Show all". */
export const ORPHANS_SHOWN = 6;

export class UnusedBuildsElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    expanded: { state: true },
    deleting: { state: true },
    scanning: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare expanded: boolean;
  declare deleting: ReadonlySet<string>;
  declare scanning: boolean;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);

  constructor() {
    super();
    this.expanded = false;
    this.deleting = new Set();
    this.scanning = false;
  }

  static override styles = [
    baseStyles,
    panelStyles,
    chartStyles,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      li {
        display: flex;
        align-items: center;
        gap: 12px;
        min-height: 52px;
        padding: 6px 8px 6px 20px;
        border-bottom: 1px solid var(--border);
      }
      li:last-child {
        border-bottom: none;
      }
      li.gone {
        opacity: 0.5;
      }
      .row-icon {
        display: grid;
        place-items: center;
        flex: none;
        color: var(--text-3);
      }
      .what {
        display: flex;
        flex-direction: column;
        flex: 1;
        min-width: 0;
        line-height: 1.3;
      }
      .name {
        font-weight: 600;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .where {
        font-size: 12px;
        color: var(--text-2);
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .size {
        flex: none;
        font-weight: 550;
        font-variant-numeric: tabular-nums;
        text-align: right;
        white-space: nowrap;
      }
      .size.unknown {
        color: var(--text-3);
        font-weight: 400;
      }
      .icon-btn.delete:hover:not(:disabled) {
        color: var(--danger);
        background: var(--danger-soft);
      }
      .none {
        display: flex;
        align-items: center;
        gap: 10px;
        margin: 0;
        padding: 16px 20px;
        color: var(--text-2);
      }
      .none .icon {
        color: var(--success);
      }
      .more {
        display: block;
        width: 100%;
        padding: 10px 20px;
        border: none;
        border-top: 1px solid var(--border);
        border-radius: 0 0 var(--radius) var(--radius);
        background: none;
        color: var(--accent);
        font: inherit;
        font-weight: 550;
        text-align: left;
        cursor: pointer;
      }
      .more:hover {
        background: var(--surface-hover);
      }
      @media (max-width: 520px) {
        li {
          gap: 10px;
          padding-left: 14px;
        }
        .none {
          padding: 14px;
        }
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
  }

  /** Brings the section into view and moves focus to its heading. */
  reveal(): void {
    this.scrollIntoView({ behavior: 'smooth', block: 'start' });
    this.renderRoot.querySelector<HTMLElement>('h2')?.focus({ preventScroll: true });
  }

  private async deleteFolder(orphan: OrphanBuild): Promise<void> {
    const ctx = this.ctx;
    if (!ctx || this.deleting.has(orphan.build_path)) return;
    const { name } = splitPath(orphan.build_path);
    const frees = orphan.build_size_bytes > 0 ? ` Frees ${formatBytes(orphan.build_size_bytes)}.` : '';
    const ok = await ctx.ui.confirm({
      title: `Delete ${name}?`,
      message: `No device uses this build folder. It is deleted with everything in it; this cannot be undone.${frees}`,
      items: [orphan.build_path],
      confirmLabel: 'Delete folder',
      danger: true,
    });
    if (!ok) return;
    this.deleting = new Set([...this.deleting, orphan.build_path]);
    try {
      await ctx.actions.deleteOrphan(orphan);
    } finally {
      const next = new Set(this.deleting);
      next.delete(orphan.build_path);
      this.deleting = next;
    }
  }

  private async rescan(): Promise<void> {
    if (!this.ctx || this.scanning) return;
    this.scanning = true;
    try {
      await this.ctx.actions.rescanOrphans();
    } finally {
      this.scanning = false;
    }
  }

  private renderRow(orphan: OrphanBuild, sharedParent: boolean) {
    const { name, parent } = splitPath(orphan.build_path);
    const busy = this.deleting.has(orphan.build_path);
    const measured = orphan.build_size_bytes > 0;
    return html`<li class=${busy ? 'gone' : ''} data-path=${orphan.build_path}>
      <span class="row-icon">${icon('folder')}</span>
      <div class="what" title=${orphan.build_path}>
        <span class="name">${name}</span>
        ${sharedParent ? nothing : html`<span class="where mono">${shortenPath(parent, 48)}</span>`}
      </div>
      ${
        measured
          ? html`<span class="size" data-bytes=${orphan.build_size_bytes}>${formatBytes(orphan.build_size_bytes)}</span>`
          : html`<span class="size unknown" data-bytes="0" title="Empty, or not measured yet">—</span>`
      }
      <button
        class="icon-btn delete"
        aria-label=${`Delete unused build folder ${name}`}
        title="Delete this folder"
        ?disabled=${busy}
        @click=${() => void this.deleteFolder(orphan)}
      >
        ${icon(busy ? 'running' : 'trash')}
      </button>
    </li>`;
  }

  override render() {
    const orphans = this.ctx?.store.orphans ?? [];
    const total = orphanTotal(orphans);
    const parent = orphans.length > 0 ? commonParent(orphans.map((o) => o.build_path)) : null;
    const shown = this.expanded ? orphans : orphans.slice(0, ORPHANS_SHOWN);
    return html`<section class="panel" aria-labelledby="unused-title" data-testid="unused-builds">
      <div class="panel-head">
        <span class="panel-badge">${icon('folder')}</span>
        <div class="panel-title">
          <h2 id="unused-title" tabindex="-1">Unused build folders</h2>
          <p>Left behind by deleted or renamed devices.</p>
          ${
            parent
              ? html`<span class="path" title=${parent} data-testid="unused-parent"
                >in <span class="wide">${shortenPath(parent, 48)}</span><span class="narrow">${shortenPath(parent, 30)}</span></span
              >`
              : nothing
          }
        </div>
        ${
          orphans.length > 0
            ? html`<div class="panel-figure">
              <div class="value" data-testid="unused-total" data-bytes=${total}>${formatBytes(total)}</div>
              <div class="caption">in ${plural(orphans.length, 'folder')}</div>
            </div>`
            : nothing
        }
        <div class="panel-tools">
          <button
            class="icon-btn"
            aria-label="Look for unused build folders again"
            title="Look again"
            ?disabled=${this.scanning}
            @click=${() => void this.rescan()}
          >
            ${icon(this.scanning ? 'running' : 'refresh')}
          </button>
        </div>
      </div>
      ${
        orphans.length === 0
          ? html`<p class="none" data-testid="unused-none">${icon('success')} None: every build folder belongs to a device.</p>`
          : html`<ul aria-label="Unused build folders">
              ${shown.map((orphan) => this.renderRow(orphan, parent !== null))}
            </ul>
            ${
              orphans.length > ORPHANS_SHOWN
                ? html`<button class="more" aria-expanded=${this.expanded ? 'true' : 'false'} @click=${() => (this.expanded = !this.expanded)}>
                  ${this.expanded ? 'Show fewer' : `Show all ${orphans.length} folders`}
                </button>`
                : nothing
            }`
      }
    </section>`;
  }
}

customElements.define('db-unused-builds', UnusedBuildsElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-unused-builds': UnusedBuildsElement;
  }
}
