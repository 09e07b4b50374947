/**
 * "Are you sure?" as a promise: `ask()` resolves true on confirm, false on
 * Cancel, Esc or a click outside. Focus starts on Cancel, the safe choice.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { ConfirmOptions } from '../state/context.js';
import { ModalController } from '../ui/modal.js';
import { baseStyles, dialogStyles } from '../ui/styles.js';

const MAX_ITEMS = 8;

export class ConfirmDialogElement extends LitElement {
  static override properties = { options: { state: true } };
  declare options: ConfirmOptions | null;

  private resolve: ((ok: boolean) => void) | null = null;
  private answer = false;
  private readonly modal = new ModalController(
    this,
    () => this.renderRoot.querySelector('dialog'),
    () => {
      const resolve = this.resolve;
      this.resolve = null;
      resolve?.(this.answer);
    },
  );

  constructor() {
    super();
    this.options = null;
  }

  static override styles = [
    baseStyles,
    dialogStyles,
    css`
      dialog {
        width: min(460px, calc(100vw - 24px));
      }
      p {
        margin: 0;
        color: var(--text-2);
      }
      ul {
        margin: 12px 0 0;
        padding: 8px 12px 8px 28px;
        border-radius: var(--radius-s);
        background: var(--surface-2);
        max-height: 200px;
        overflow: auto;
      }
      li {
        padding: 1px 0;
      }
    `,
  ];

  async ask(options: ConfirmOptions): Promise<boolean> {
    // A second question replaces an unanswered one, which counts as "no".
    this.resolve?.(false);
    this.options = options;
    this.answer = false;
    await this.updateComplete;
    const result = new Promise<boolean>((resolve) => (this.resolve = resolve));
    this.modal.open();
    this.renderRoot.querySelector<HTMLButtonElement>('button.cancel')?.focus();
    return result;
  }

  private finish(ok: boolean): void {
    this.answer = ok;
    this.modal.close();
  }

  override render() {
    const o = this.options;
    const items = o?.items ?? [];
    return html`
      <dialog role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-message" @close=${this.modal.handleClose} @click=${this.modal.handleClick}>
        ${
          o
            ? html`
              <div class="dialog-head"><h2 id="confirm-title">${o.title}</h2></div>
              <div class="dialog-body">
                <p id="confirm-message">${o.message}</p>
                ${
                  items.length
                    ? html`<ul>
                      ${items.slice(0, MAX_ITEMS).map((item) => html`<li>${item}</li>`)}
                      ${items.length > MAX_ITEMS ? html`<li>and ${items.length - MAX_ITEMS} more</li>` : nothing}
                    </ul>`
                    : nothing
                }
              </div>
              <div class="dialog-foot">
                <button class="btn cancel" @click=${() => this.finish(false)}>Cancel</button>
                <button class="btn ${o.danger ? 'danger solid' : 'primary'} confirm" @click=${() => this.finish(true)}>
                  ${o.confirmLabel}
                </button>
              </div>
            `
            : nothing
        }
      </dialog>
    `;
  }
}

customElements.define('db-confirm-dialog', ConfirmDialogElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-confirm-dialog': ConfirmDialogElement;
  }
}
