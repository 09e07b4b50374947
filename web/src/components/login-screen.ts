/**
 * The sign-in screen, shown when the server requires a password and the
 * page has no valid stored token. A successful login stores the token, so a
 * reload resumes the session without asking again.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { ApiClient } from '../api/client.js';
import { RequestError } from '../api/client.js';
import { icon } from '../ui/icons.js';
import { baseStyles } from '../ui/styles.js';

export class LoginScreenElement extends LitElement {
  static override properties = {
    client: { attribute: false },
    error: { attribute: false },
    busy: { state: true },
    localError: { state: true },
  };
  declare client: ApiClient | undefined;
  /** A message from the connection (session ended, rate limited). */
  declare error: string | null;
  declare busy: boolean;
  declare localError: string | null;

  constructor() {
    super();
    this.error = null;
    this.busy = false;
    this.localError = null;
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: grid;
        place-items: center;
        min-height: 100dvh;
        padding: 24px 16px;
      }
      form {
        width: min(380px, 100%);
        padding: 28px 28px 24px;
        border: 1px solid var(--border);
        border-radius: var(--radius);
        background: var(--surface);
        box-shadow: var(--shadow-2);
      }
      .logo {
        display: grid;
        place-items: center;
        width: 48px;
        height: 48px;
        margin-bottom: 16px;
        border-radius: 12px;
        background: var(--accent);
        color: var(--accent-contrast);
      }
      .logo .icon {
        width: 28px;
        height: 28px;
      }
      h1 {
        margin: 0 0 4px;
        font-size: 22px;
        font-weight: 650;
      }
      p {
        margin: 0 0 20px;
        color: var(--text-2);
      }
      label {
        display: block;
        margin-bottom: 6px;
        font-weight: 600;
      }
      input {
        width: 100%;
      }
      .error {
        display: flex;
        gap: 6px;
        align-items: center;
        margin-top: 10px;
        color: var(--danger);
        font-size: 13px;
      }
      .error .icon {
        width: 16px;
        height: 16px;
      }
      .btn {
        width: 100%;
        height: 40px;
        margin-top: 18px;
      }
    `,
  ];

  override firstUpdated(): void {
    this.renderRoot.querySelector('input')?.focus();
  }

  private async submit(event: Event): Promise<void> {
    event.preventDefault();
    const input = this.renderRoot.querySelector('input');
    if (!this.client || !input || this.busy) return;
    this.busy = true;
    this.localError = null;
    try {
      await this.client.login(input.value);
    } catch (err) {
      const code = err instanceof RequestError ? err.code : null;
      this.localError =
        code === 'not_authenticated' || code === 'invalid_args'
          ? 'Wrong password.'
          : code === 'rate_limited'
            ? 'Too many attempts. Wait a moment and try again.'
            : `Could not sign in: ${(err as Error).message}`;
      input.select();
    } finally {
      this.busy = false;
    }
  }

  override render() {
    const message = this.localError ?? this.error;
    return html`
      <form @submit=${this.submit} aria-labelledby="login-title">
        <div class="logo">${icon('chip')}</div>
        <h1 id="login-title">Sign in</h1>
        <p>This Device Builder is protected by a password.</p>
        <label for="password">Password</label>
        <input id="password" type="password" autocomplete="current-password" required ?disabled=${this.busy} />
        ${message ? html`<div class="error" role="alert">${icon('warning')}${message}</div>` : nothing}
        <button class="btn primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    `;
  }
}

customElements.define('db-login-screen', LoginScreenElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-login-screen': LoginScreenElement;
  }
}
