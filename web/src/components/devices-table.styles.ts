/**
 * The devices table's styles, apart from its logic.
 *
 * The row heights live here once: the CSS below sets them and the table's
 * virtual scrolling ({@link ./virtual-rows.ts}) starts from {@link ROW_HEIGHT}
 * before it measures a rendered row (cards on phones are {@link CARD_HEIGHT}).
 * Every row has one fixed height per layout, which is what keeps the spacer
 * arithmetic exact.
 */
import { css } from 'lit';

/** Height of a table row (and of a loading placeholder row), in CSS px. */
export const ROW_HEIGHT = 57;
/** Height of a row laid out as a stacked card (≤ 720 px), in CSS px. */
export const CARD_HEIGHT = 78;

export const devicesTableStyles = css`
  :host {
    display: block;
  }
  .toolbar {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 10px;
    margin-bottom: 12px;
  }
  .search {
    position: relative;
    flex: 1 1 260px;
    max-width: 460px;
  }
  .search .icon {
    position: absolute;
    left: 11px;
    top: 50%;
    transform: translateY(-50%);
    color: var(--text-3);
    pointer-events: none;
  }
  .search input {
    width: 100%;
    padding-left: 38px;
  }
  .count {
    color: var(--text-2);
    font-size: 13px;
    white-space: nowrap;
  }
  .spacer-flex {
    flex: 1;
  }
  .mobile-sort {
    display: none;
    align-items: center;
    gap: 4px;
  }

  .card {
    border: 1px solid var(--border);
    border-radius: var(--radius);
    background: var(--surface);
    box-shadow: var(--shadow-1);
  }
  table {
    width: 100%;
    border-collapse: separate;
    border-spacing: 0;
    table-layout: auto;
  }
  thead th {
    position: sticky;
    top: var(--sticky-top, 0px);
    z-index: 5;
    height: 44px;
    padding: 0 12px;
    background: var(--surface-2);
    border-bottom: 1px solid var(--border);
    font-size: 12px;
    font-weight: 650;
    letter-spacing: 0.02em;
    text-transform: uppercase;
    color: var(--text-2);
    text-align: left;
    white-space: nowrap;
  }
  thead th:first-child {
    border-top-left-radius: var(--radius);
  }
  thead th:last-child {
    border-top-right-radius: var(--radius);
  }
  th.num {
    text-align: right;
  }
  .sort {
    display: inline-flex;
    align-items: center;
    gap: 4px;
    margin: 0 -6px;
    padding: 4px 6px;
    border: none;
    border-radius: 6px;
    background: none;
    color: inherit;
    font: inherit;
    letter-spacing: inherit;
    text-transform: inherit;
    cursor: pointer;
  }
  .sort:hover {
    color: var(--text);
    background: var(--surface-hover);
  }
  .sort .icon {
    width: 14px;
    height: 14px;
    opacity: 0;
  }
  th[aria-sort='ascending'] .sort,
  th[aria-sort='descending'] .sort {
    color: var(--accent);
  }
  th[aria-sort='ascending'] .sort .icon,
  th[aria-sort='descending'] .sort .icon {
    opacity: 1;
  }
  th[aria-sort='descending'] .sort .icon {
    transform: rotate(180deg);
  }
  .sort:hover .icon {
    opacity: 0.5;
  }

  tbody tr.device {
    height: ${ROW_HEIGHT}px;
    cursor: pointer;
    transition: background-color 0.1s;
  }
  tbody tr.device:hover {
    background: var(--surface-hover);
  }
  tbody tr.device.selected {
    background: var(--surface-selected);
  }
  tbody tr.device:focus-visible {
    outline: 2px solid var(--accent);
    outline-offset: -2px;
  }
  tbody td {
    padding: 0 12px;
    border-bottom: 1px solid var(--border);
    white-space: nowrap;
    max-width: 320px;
    overflow: hidden;
    text-overflow: ellipsis;
    vertical-align: middle;
  }
  tbody tr:last-child td {
    border-bottom: none;
  }
  td.select,
  th.select {
    width: 44px;
    padding-right: 0;
  }
  td.select label {
    display: grid;
    place-items: center;
    width: 32px;
    height: 32px;
    margin-left: -8px;
    cursor: pointer;
  }
  th.select input {
    margin-left: 0;
  }
  td.status,
  th.status {
    width: 64px;
  }
  .status-btn {
    display: inline-grid;
    place-items: center;
    width: 30px;
    height: 30px;
    padding: 0;
    border: none;
    border-radius: 50%;
    background: none;
    cursor: pointer;
  }
  .status-btn:hover {
    background: var(--surface-2);
  }
  .status-none {
    display: inline-block;
    width: 6px;
    height: 6px;
    margin-left: 12px;
    border-radius: 50%;
    background: var(--border-strong);
  }
  .name-stack {
    display: flex;
    flex-direction: column;
    min-width: 0;
    line-height: 1.3;
  }
  .name-stack .friendly {
    font-weight: 600;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .name-stack .device-name {
    font-family: var(--mono);
    font-size: 12px;
    color: var(--text-2);
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .name-stack .warn {
    color: var(--warning);
    display: inline-flex;
    vertical-align: -3px;
    margin-left: 4px;
  }
  .name-stack .warn .icon {
    width: 16px;
    height: 16px;
  }
  td.configuration {
    font-family: var(--mono);
    font-size: 12.5px;
    color: var(--text-2);
  }
  td.address {
    font-variant-numeric: tabular-nums;
    color: var(--text-2);
  }
  td.build_size {
    text-align: right;
    font-variant-numeric: tabular-nums;
    font-weight: 550;
  }
  td.build_size.none {
    color: var(--text-3);
    font-weight: 400;
  }
  td.mobile-meta {
    display: none;
  }
  td.actions {
    width: 1%;
    text-align: right;
    padding-right: 8px;
  }
  .row-actions {
    display: inline-flex;
    gap: 2px;
  }
  .placeholder {
    color: var(--text-3);
  }
  tr.spacer td {
    padding: 0;
    border: none;
  }
  .empty {
    padding: 48px 16px;
    text-align: center;
    color: var(--text-2);
  }
  .empty strong {
    display: block;
    margin-bottom: 4px;
    color: var(--text);
    font-size: 15px;
  }
  .empty .btn {
    margin-top: 12px;
  }
  .loading-row {
    height: ${ROW_HEIGHT}px;
    border-bottom: 1px solid var(--border);
    background: linear-gradient(90deg, transparent, var(--surface-2), transparent);
    background-size: 200% 100%;
    animation: shimmer 1.2s infinite linear;
  }
  @keyframes shimmer {
    from {
      background-position: 200% 0;
    }
    to {
      background-position: -200% 0;
    }
  }

  /* Stacked cards on phones. */
  @media (max-width: 720px) {
    .search {
      flex-basis: 100%;
      max-width: none;
    }
    .mobile-sort {
      display: inline-flex;
    }
    .mobile-sort select {
      max-width: 150px;
    }
    table,
    tbody {
      display: block;
    }
    thead tr {
      display: flex;
      align-items: center;
      height: 44px;
      background: var(--surface-2);
      border-bottom: 1px solid var(--border);
      border-radius: var(--radius) var(--radius) 0 0;
    }
    thead th {
      display: none;
      position: static;
      background: none;
      border: none;
    }
    thead th.select {
      display: flex;
      align-items: center;
      gap: 10px;
      width: auto;
    }
    thead th.select .select-all-text {
      position: static;
      width: auto;
      height: auto;
      margin: 0;
      clip: auto;
      overflow: visible;
    }
    tbody tr.device {
      display: flex;
      flex-wrap: wrap;
      align-items: center;
      height: ${CARD_HEIGHT}px;
      padding: 8px 6px 8px 12px;
      border-bottom: 1px solid var(--border);
      overflow: hidden;
    }
    tbody tr.device:last-child {
      border-bottom: none;
    }
    tbody td {
      display: block;
      padding: 0;
      border: none;
      max-width: none;
    }
    td.select {
      order: 0;
      width: 36px;
      padding: 0;
    }
    td.select label {
      margin-left: -6px;
    }
    td.name {
      order: 1;
      flex: 1 1 0;
      min-width: 0;
    }
    td.actions {
      order: 2;
      width: auto;
      padding: 0;
    }
    td.status {
      display: none;
    }
    td.configuration,
    td.platform,
    td.address,
    td.build_size {
      display: none;
    }
    td.mobile-meta {
      display: block;
      order: 3;
      flex-basis: 100%;
      padding-left: 36px;
      font-size: 12.5px;
      color: var(--text-2);
      white-space: nowrap;
      overflow: hidden;
      text-overflow: ellipsis;
    }
    td.mobile-meta .sep {
      margin: 0 6px;
      color: var(--text-3);
    }
    td.mobile-meta .size {
      color: var(--text);
      font-weight: 600;
      font-variant-numeric: tabular-nums;
    }
    thead {
      display: block;
    }
    .row-actions .secondary {
      display: none;
    }
    .status-inline {
      display: inline-flex;
    }
    tr.spacer {
      display: block;
    }
    tr.spacer td {
      display: none;
    }
    .name-stack .friendly .status-inline {
      display: inline-flex;
    }
  }
  .status-inline {
    display: none;
    vertical-align: -4px;
    margin-right: 4px;
  }
  .status-inline .icon {
    width: 16px;
    height: 16px;
  }
`;
