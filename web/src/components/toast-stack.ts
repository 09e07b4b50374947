/**
 * The toasts: bottom right (bottom, full width on phones), newest last.
 * Successes are polite status messages; failures are alerts and stay
 * longer. Each can carry per-device details and one action ("Show log").
 */
import { css, html, LitElement, nothing } from 'lit';
import type { Toast, Toasts } from '../state/toasts.js';
import { icon } from '../ui/icons.js';
import { baseStyles } from '../ui/styles.js';

const ICONS = { success: 'success', error: 'failed', info: 'info' } as const;
const MAX_DETAILS = 6;

export class ToastStackElement extends LitElement {
  static override properties = { toasts: { attribute: false } };
  declare toasts: Toasts | undefined;

  private unsubscribe: (() => void) | null = null;

  static override styles = [
    baseStyles,
    css`
      :host {
        position: fixed;
        right: 16px;
        bottom: 16px;
        z-index: 100;
        display: flex;
        flex-direction: column;
        gap: 8px;
        width: min(400px, calc(100vw - 32px));
        pointer-events: none;
      }
      .toast {
        pointer-events: auto;
        display: grid;
        grid-template-columns: 22px minmax(0, 1fr) auto;
        gap: 10px;
        align-items: start;
        padding: 12px 8px 12px 14px;
        border: 1px solid var(--border);
        border-left: 4px solid var(--accent);
        border-radius: var(--radius-s);
        background: var(--surface);
        box-shadow: var(--shadow-2);
        animation: pop 0.16s ease-out;
      }
      @keyframes pop {
        from {
          opacity: 0;
          transform: translateY(8px);
        }
      }
      .toast.success {
        border-left-color: var(--success);
      }
      .toast.success > .icon {
        color: var(--success);
      }
      .toast.error {
        border-left-color: var(--danger);
      }
      .toast.error > .icon {
        color: var(--danger);
      }
      .toast.info > .icon {
        color: var(--accent);
      }
      .message {
        font-weight: 550;
        overflow-wrap: anywhere;
        padding-top: 1px;
      }
      ul {
        margin: 6px 0 0;
        padding: 0;
        list-style: none;
        font-size: 12.5px;
        color: var(--text-2);
      }
      li {
        overflow-wrap: anywhere;
      }
      .action {
        margin-top: 6px;
        padding: 0;
        border: none;
        background: none;
        color: var(--accent);
        font: inherit;
        font-weight: 600;
        cursor: pointer;
      }
      .action:hover {
        text-decoration: underline;
      }
      .icon-btn {
        width: 28px;
        height: 28px;
        margin-top: -4px;
      }
      .icon-btn .icon {
        width: 16px;
        height: 16px;
      }
      @media (max-width: 560px) {
        :host {
          right: 8px;
          left: 8px;
          bottom: 8px;
          width: auto;
        }
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('toasts')) {
      this.unsubscribe?.();
      this.unsubscribe = this.toasts?.subscribe(() => this.requestUpdate()) ?? null;
    }
  }

  override disconnectedCallback(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    super.disconnectedCallback();
  }

  private renderToast(toast: Toast) {
    const details = toast.details.slice(0, MAX_DETAILS);
    return html`<div class="toast ${toast.kind}" role=${toast.kind === 'error' ? 'alert' : 'status'} data-kind=${toast.kind}>
      ${icon(ICONS[toast.kind])}
      <div>
        <div class="message">${toast.message}</div>
        ${
          details.length
            ? html`<ul>
              ${details.map((line) => html`<li>${line}</li>`)}
              ${toast.details.length > MAX_DETAILS ? html`<li>and ${toast.details.length - MAX_DETAILS} more</li>` : nothing}
            </ul>`
            : nothing
        }
        ${
          toast.action
            ? html`<button
              class="action"
              @click=${() => {
                toast.action?.run();
                this.toasts?.dismiss(toast.id);
              }}
            >
              ${toast.action.label}
            </button>`
            : nothing
        }
      </div>
      <button class="icon-btn" aria-label="Dismiss notification" @click=${() => this.toasts?.dismiss(toast.id)}>${icon('close')}</button>
    </div>`;
  }

  override render() {
    return html`<div role="region" aria-label="Notifications" style="display: contents">
      ${(this.toasts?.list ?? []).map((t) => this.renderToast(t))}
    </div>`;
  }
}

customElements.define('db-toast-stack', ToastStackElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-toast-stack': ToastStackElement;
  }
}
