/**
 * Styles shared by the components (each has its own shadow root): buttons,
 * fields, status chips, dialogs, and the screen-reader-only helper. Colours
 * come from the tokens in tokens.css.
 */
import { css } from 'lit';

export const baseStyles = css`
  *,
  *::before,
  *::after {
    box-sizing: border-box;
  }
  :host {
    font-family: var(--font);
    color: var(--text);
  }
  [hidden] {
    display: none !important;
  }
  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    padding: 0;
    margin: -1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  .icon {
    width: 20px;
    height: 20px;
    flex: none;
  }
  .icon .spin {
    transform-origin: 12px 12px;
    animation: spin 0.9s linear infinite;
  }
  @keyframes spin {
    to {
      transform: rotate(360deg);
    }
  }
  :focus-visible {
    outline: 2px solid var(--accent);
    outline-offset: 2px;
  }
  @media (prefers-reduced-motion: reduce) {
    *,
    *::before,
    *::after,
    dialog::backdrop {
      animation-duration: 0.01ms !important;
      /* none, not a tiny duration: a pending transition keeps the old geometry for a few frames. */
      transition: none !important;
    }
  }

  .btn {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    gap: 6px;
    height: 36px;
    padding: 0 14px;
    border-radius: var(--radius-s);
    border: 1px solid var(--border-strong);
    background: var(--surface);
    color: var(--text);
    font: inherit;
    font-weight: 550;
    cursor: pointer;
    white-space: nowrap;
    transition:
      background-color 0.12s,
      border-color 0.12s,
      color 0.12s;
  }
  .btn:hover:not(:disabled) {
    background: var(--surface-hover);
  }
  .btn:disabled {
    opacity: 0.5;
    cursor: not-allowed;
  }
  .btn .icon {
    width: 18px;
    height: 18px;
  }
  .btn.primary {
    background: var(--accent);
    border-color: var(--accent);
    color: var(--accent-contrast);
  }
  .btn.primary:hover:not(:disabled) {
    background: var(--accent-hover);
    border-color: var(--accent-hover);
  }
  .btn.danger {
    color: var(--danger);
    border-color: color-mix(in srgb, var(--danger) 45%, var(--border-strong));
  }
  .btn.danger:hover:not(:disabled) {
    background: var(--danger-soft);
  }
  .btn.danger.solid {
    background: var(--danger);
    border-color: var(--danger);
    color: #fff;
  }
  .btn.danger.solid:hover:not(:disabled) {
    background: var(--danger-hover);
  }
  .btn.ghost {
    border-color: transparent;
    background: transparent;
  }
  .btn.ghost:hover:not(:disabled) {
    background: var(--surface-hover);
  }

  .icon-btn {
    display: inline-grid;
    place-items: center;
    width: 36px;
    height: 36px;
    padding: 0;
    border: none;
    border-radius: 50%;
    background: transparent;
    color: var(--text-2);
    cursor: pointer;
    transition:
      background-color 0.12s,
      color 0.12s;
  }
  .icon-btn:hover:not(:disabled) {
    background: var(--surface-hover);
    color: var(--text);
  }
  .icon-btn:disabled {
    opacity: 0.4;
    cursor: not-allowed;
  }

  input[type='search'],
  input[type='text'],
  input[type='password'],
  select {
    height: 38px;
    padding: 0 12px;
    border: 1px solid var(--border-strong);
    border-radius: var(--radius-s);
    background: var(--surface);
    color: var(--text);
    font: inherit;
  }
  input:focus-visible,
  select:focus-visible {
    outline: 2px solid var(--accent);
    outline-offset: -1px;
    border-color: var(--accent);
  }
  input[type='checkbox'] {
    width: 16px;
    height: 16px;
    margin: 0;
    accent-color: var(--accent);
    cursor: pointer;
  }

  .chip {
    display: inline-flex;
    align-items: center;
    gap: 4px;
    height: 22px;
    padding: 0 8px;
    border-radius: 11px;
    font-size: 12px;
    font-weight: 600;
    white-space: nowrap;
    background: var(--surface-2);
    color: var(--text-2);
  }
  .chip .icon {
    width: 14px;
    height: 14px;
  }
  .status-running,
  .status-queued {
    color: var(--accent);
  }
  .chip.status-running,
  .chip.status-queued {
    background: var(--accent-soft);
  }
  .status-completed {
    color: var(--success);
  }
  .chip.status-completed {
    background: var(--success-soft);
  }
  .status-failed {
    color: var(--danger);
  }
  .chip.status-failed {
    background: var(--danger-soft);
  }
  .status-cancelled {
    color: var(--text-3);
  }

  .mono {
    font-family: var(--mono);
    font-size: 0.92em;
  }
  .muted {
    color: var(--text-2);
  }
  .num {
    font-variant-numeric: tabular-nums;
    text-align: right;
  }
`;

/** A centred modal `<dialog>` with header, body and footer. */
export const dialogStyles = css`
  dialog {
    padding: 0;
    border: 1px solid var(--border);
    border-radius: var(--radius);
    background: var(--surface);
    color: var(--text);
    box-shadow: var(--shadow-2);
    width: min(560px, calc(100vw - 24px));
    max-height: min(86vh, 900px);
    overflow: hidden;
  }
  dialog[open] {
    display: flex;
    flex-direction: column;
    animation: dialog-in 0.14s ease-out;
  }
  dialog::backdrop {
    background: var(--scrim);
  }
  @keyframes dialog-in {
    from {
      opacity: 0;
      transform: translateY(8px) scale(0.99);
    }
  }
  .dialog-head {
    display: flex;
    align-items: center;
    gap: 12px;
    padding: 16px 16px 12px 20px;
    border-bottom: 1px solid var(--border);
  }
  .dialog-head h2 {
    flex: 1;
    margin: 0;
    font-size: 17px;
    font-weight: 650;
    min-width: 0;
  }
  .dialog-body {
    padding: 16px 20px;
    overflow: auto;
    flex: 1;
  }
  .dialog-foot {
    display: flex;
    flex-wrap: wrap;
    justify-content: flex-end;
    gap: 8px;
    padding: 12px 20px 16px;
    border-top: 1px solid var(--border);
  }
  .empty {
    padding: 28px 8px;
    text-align: center;
    color: var(--text-2);
  }
`;

/**
 * A section card below the table ("Unused build folders", "PlatformIO
 * cache"): a head with badge, title, figure and tool buttons, then rows.
 * Same surface, border and shadow as the table's card.
 */
export const panelStyles = css`
  .panel {
    display: flex;
    flex-direction: column;
    min-width: 0;
    border: 1px solid var(--border);
    border-radius: var(--radius);
    background: var(--surface);
    box-shadow: var(--shadow-1);
  }
  .panel-head {
    display: flex;
    align-items: flex-start;
    gap: 14px;
    padding: 16px 12px 14px 20px;
    border-bottom: 1px solid var(--border);
  }
  .panel-badge {
    display: grid;
    place-items: center;
    flex: none;
    width: 40px;
    height: 40px;
    border-radius: 10px;
    background: var(--accent-soft);
    color: var(--accent);
  }
  .panel-title {
    flex: 1;
    min-width: 0;
    align-self: center;
  }
  .panel-title h2 {
    margin: 0;
    font-size: 16px;
    font-weight: 650;
    line-height: 1.3;
  }
  .panel-title h2:focus {
    outline: none;
  }
  .panel-title p {
    margin: 2px 0 0;
    font-size: 13px;
    color: var(--text-2);
  }
  .panel-title .path {
    display: block;
    font-family: var(--mono);
    font-size: 12.5px;
    color: var(--text-2);
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  /* A path shortened twice (see shortenPath): the tighter one on phones. */
  .path .narrow {
    display: none;
  }
  .panel-figure {
    flex: none;
    align-self: center;
    text-align: right;
  }
  .panel-figure .value {
    font-size: 22px;
    font-weight: 650;
    font-variant-numeric: tabular-nums;
    line-height: 1.2;
    white-space: nowrap;
  }
  .panel-figure .caption {
    font-size: 12px;
    color: var(--text-2);
    white-space: nowrap;
  }
  .panel-tools {
    display: flex;
    flex: none;
    align-self: center;
  }
  /* Phones: badge, title and tools on one row; the figure below, under the title. */
  @media (max-width: 520px) {
    .panel-head {
      flex-wrap: wrap;
      gap: 8px 12px;
      padding: 14px 8px 12px 14px;
    }
    .panel-badge {
      width: 36px;
      height: 36px;
    }
    .panel-title {
      flex: 1 1 0;
    }
    .panel-tools {
      order: 2;
    }
    .panel-figure {
      order: 3;
      display: flex;
      align-items: baseline;
      gap: 8px;
      flex: 1 1 100%;
      padding-left: 48px;
      text-align: left;
    }
    .panel-figure .value {
      font-size: 19px;
    }
    .path .wide {
      display: none;
    }
    .path .narrow {
      display: inline;
    }
  }
`;

/** Size bars split into parts, and their legend swatches (`.c1`…`.c5` = the chart tokens). */
export const chartStyles = css`
  .swatch {
    display: inline-block;
    flex: none;
    width: 10px;
    height: 10px;
    border-radius: 3px;
    background: var(--chart-4);
  }
  .stack-bar {
    display: flex;
    gap: 2px;
    height: 8px;
    border-radius: 4px;
    background: var(--surface-2);
    overflow: hidden;
  }
  .stack-bar span {
    display: block;
    min-width: 0;
    height: 100%;
    transition: flex-basis 0.3s;
  }
  .c1 {
    background: var(--chart-1);
  }
  .c2 {
    background: var(--chart-2);
  }
  .c3 {
    background: var(--chart-3);
  }
  .c4 {
    background: var(--chart-4);
  }
  .c5 {
    background: var(--chart-5);
  }
`;
