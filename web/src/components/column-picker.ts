/**
 * The "Columns" button and its popover: one labelled checkbox per column
 * that can be hidden (all of them today; the actions are not a column). Choosing is instant and saved as a server preference
 * by the table, so it follows the user to another browser.
 */
import { css, html, LitElement } from 'lit';
import { COLUMNS, type ColumnId, type ColumnVisibility } from '../state/table-model.js';
import { icon } from '../ui/icons.js';
import { baseStyles } from '../ui/styles.js';

export class ColumnPickerElement extends LitElement {
  static override properties = {
    visibility: { attribute: false },
    open: { state: true },
  };
  declare visibility: ColumnVisibility | undefined;
  declare open: boolean;

  constructor() {
    super();
    this.open = false;
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        position: relative;
        display: inline-block;
      }
      .popover {
        position: absolute;
        right: 0;
        top: calc(100% + 6px);
        z-index: 20;
        min-width: 200px;
        padding: 6px;
        border: 1px solid var(--border);
        border-radius: var(--radius-s);
        background: var(--surface);
        box-shadow: var(--shadow-2);
      }
      .title {
        padding: 6px 10px 4px;
        font-size: 12px;
        font-weight: 600;
        text-transform: uppercase;
        letter-spacing: 0.02em;
        color: var(--text-2);
      }
      label {
        display: flex;
        align-items: center;
        gap: 10px;
        padding: 8px 10px;
        border-radius: 6px;
        cursor: pointer;
        user-select: none;
      }
      label:hover {
        background: var(--surface-hover);
      }
      @media (max-width: 560px) {
        .label-text {
          display: none;
        }
        .btn {
          padding: 0 10px;
        }
      }
    `,
  ];

  override connectedCallback(): void {
    super.connectedCallback();
    document.addEventListener('pointerdown', this.onOutside, true);
  }

  override disconnectedCallback(): void {
    document.removeEventListener('pointerdown', this.onOutside, true);
    super.disconnectedCallback();
  }

  private readonly onOutside = (event: Event): void => {
    if (this.open && !event.composedPath().includes(this)) this.open = false;
  };

  private async toggle(): Promise<void> {
    this.open = !this.open;
    if (this.open) {
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLInputElement>('input')?.focus();
    }
  }

  private onKeydown(event: KeyboardEvent): void {
    if (event.key === 'Escape' && this.open) {
      event.stopPropagation();
      this.open = false;
      this.renderRoot.querySelector<HTMLButtonElement>('button')?.focus();
    }
  }

  private change(id: ColumnId, shown: boolean): void {
    this.dispatchEvent(new CustomEvent('column-toggle', { detail: { id, shown }, bubbles: true, composed: true }));
  }

  override render() {
    const visibility = this.visibility;
    return html`
      <div @keydown=${this.onKeydown}>
        <button
          class="btn"
          aria-haspopup="true"
          aria-expanded=${this.open ? 'true' : 'false'}
          aria-controls="column-popover"
          aria-label="Columns"
          @click=${() => void this.toggle()}
        >
          ${icon('columns')}<span class="label-text">Columns</span>
        </button>
        <div class="popover" id="column-popover" role="group" aria-label="Visible columns" ?hidden=${!this.open}>
          <div class="title" aria-hidden="true">Show columns</div>
          ${COLUMNS.filter((column) => column.hideable).map(
            (column) => html`
              <label>
                <input
                  type="checkbox"
                  .checked=${visibility?.[column.id] ?? column.visibleByDefault}
                  @change=${(e: Event) => this.change(column.id, (e.target as HTMLInputElement).checked)}
                />
                ${column.label}
              </label>
            `,
          )}
        </div>
      </div>
    `;
  }
}

customElements.define('db-column-picker', ColumnPickerElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-column-picker': ColumnPickerElement;
  }
}
