/**
 * Archived devices: the YAMLs in `<config>/archive/`. Restore one (it comes
 * back to the table through the event stream) or delete it permanently
 * after a confirmation.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { ArchivedDevice } from '../../../src/shared/protocol.js';
import { messageOf } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { icon } from '../ui/icons.js';
import { ModalController } from '../ui/modal.js';
import { baseStyles, dialogStyles } from '../ui/styles.js';

export class ArchivedDialogElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    devices: { state: true },
    error: { state: true },
    busy: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare devices: ArchivedDevice[] | null;
  declare error: string | null;
  declare busy: string | null;

  private readonly modal = new ModalController(this, () => this.renderRoot.querySelector('dialog'));

  constructor() {
    super();
    this.devices = null;
    this.error = null;
    this.busy = null;
  }

  static override styles = [
    baseStyles,
    dialogStyles,
    css`
      dialog {
        width: min(640px, calc(100vw - 24px));
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
        display: flex;
        align-items: center;
        gap: 12px;
        padding: 12px 16px 12px 20px;
        border-bottom: 1px solid var(--border);
      }
      li:last-child {
        border-bottom: none;
      }
      .what {
        flex: 1;
        min-width: 0;
      }
      .what strong {
        display: block;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .what .mono {
        color: var(--text-2);
      }
      .buttons {
        display: flex;
        gap: 6px;
        flex: none;
      }
      .error {
        padding: 16px 20px;
        color: var(--danger);
      }
      @media (max-width: 520px) {
        li {
          flex-wrap: wrap;
        }
        .buttons {
          width: 100%;
          justify-content: flex-end;
        }
      }
    `,
  ];

  async show(): Promise<void> {
    this.devices = null;
    this.error = null;
    await this.updateComplete;
    this.modal.open();
    await this.load();
  }

  close(): void {
    this.modal.close();
  }

  private async load(): Promise<void> {
    if (!this.ctx) return;
    try {
      const devices = await this.ctx.actions.listArchived();
      this.devices = [...devices].sort((a, b) => (a.friendly_name || a.name).localeCompare(b.friendly_name || b.name));
      this.error = null;
    } catch (err) {
      this.error = `Could not load the archive: ${messageOf(err)}`;
    }
  }

  private nameOf(device: ArchivedDevice): string {
    return device.friendly_name || device.name || device.configuration;
  }

  private async restore(device: ArchivedDevice): Promise<void> {
    if (!this.ctx) return;
    this.busy = device.configuration;
    try {
      if (await this.ctx.actions.unarchive(device)) await this.load();
    } finally {
      this.busy = null;
    }
  }

  private async deletePermanently(device: ArchivedDevice): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    const ok = await ctx.ui.confirm({
      title: `Delete ${this.nameOf(device)} permanently?`,
      message: `The archived configuration ${device.configuration} is deleted. This cannot be undone.`,
      confirmLabel: 'Delete permanently',
      danger: true,
    });
    if (!ok) return;
    this.busy = device.configuration;
    try {
      if (await ctx.actions.deleteArchived(device)) await this.load();
    } finally {
      this.busy = null;
    }
  }

  override render() {
    const devices = this.devices;
    return html`
      <dialog aria-labelledby="archived-title" @close=${this.modal.handleClose} @click=${this.modal.handleClick}>
        <div class="dialog-head">
          <h2 id="archived-title">Archived devices</h2>
          <button class="icon-btn" aria-label="Close" title="Close (Esc)" @click=${() => this.close()}>${icon('close')}</button>
        </div>
        <div class="dialog-body">
          ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
          ${devices === null && !this.error ? html`<div class="empty" role="status">Loading…</div>` : nothing}
          ${devices?.length === 0 ? html`<div class="empty">No archived devices.</div>` : nothing}
          ${
            devices?.length
              ? html`<ul aria-label="Archived devices">
                ${devices.map(
                  (device) => html`<li data-configuration=${device.configuration}>
                    <div class="what">
                      <strong>${this.nameOf(device)}</strong>
                      <span class="mono">${device.configuration}</span>
                    </div>
                    <div class="buttons">
                      <button
                        class="btn"
                        ?disabled=${this.busy !== null}
                        aria-label=${`Restore ${this.nameOf(device)}`}
                        @click=${() => void this.restore(device)}
                      >
                        ${icon('unarchive')} Restore
                      </button>
                      <button
                        class="btn danger"
                        ?disabled=${this.busy !== null}
                        aria-label=${`Delete ${this.nameOf(device)} permanently`}
                        @click=${() => void this.deletePermanently(device)}
                      >
                        ${icon('trash')} Delete
                      </button>
                    </div>
                  </li>`,
                )}
              </ul>`
              : nothing
          }
        </div>
        <div class="dialog-foot">
          <button class="btn primary" @click=${() => this.close()}>Close</button>
        </div>
      </dialog>
    `;
  }
}

customElements.define('db-archived-dialog', ArchivedDialogElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-archived-dialog': ArchivedDialogElement;
  }
}
