/**
 * The page's icons: small inline SVGs drawn for this project (24×24 grid,
 * 2 px round strokes, `currentColor`). No icon font, no CDN. Icons are
 * decorative (`aria-hidden`); the button around each one carries the label.
 */
import { html, svg, type TemplateResult } from 'lit';

const PATHS = {
  search: svg`<circle cx="11" cy="11" r="6.5"/><path d="M16 16l4.5 4.5"/>`,
  columns: svg`<rect x="3.5" y="4.5" width="17" height="15" rx="2"/><path d="M9.5 4.5v15M14.5 4.5v15"/>`,
  broom: svg`<path d="M20.5 3.5l-7.2 7.2"/><path d="M10.6 9.2l4.2 4.2c-.9 3.3-3.6 6-7.6 7.1-.1-2.4-.9-4.2-3.7-5.8 2.8-.7 5.2-2.6 7.1-5.5z"/><path d="M7.4 16.6l2.2 2.2"/>`,
  compile: svg`<path d="M8 7l-5 5 5 5M16 7l5 5-5 5M13.5 5l-3 14"/>`,
  install: svg`<path d="M12 15V4M7.5 8.5L12 4l4.5 4.5"/><path d="M4 14.5v4A1.5 1.5 0 0 0 5.5 20h13a1.5 1.5 0 0 0 1.5-1.5v-4"/>`,
  archive: svg`<rect x="3" y="4" width="18" height="5" rx="1"/><path d="M5 9v9.5A1.5 1.5 0 0 0 6.5 20h11a1.5 1.5 0 0 0 1.5-1.5V9M10 13h4"/>`,
  unarchive: svg`<rect x="3" y="4" width="18" height="5" rx="1"/><path d="M5 9v9.5A1.5 1.5 0 0 0 6.5 20h11a1.5 1.5 0 0 0 1.5-1.5V9M12 17.5v-5.5M9.5 14.5L12 12l2.5 2.5"/>`,
  trash: svg`<path d="M4 7h16M9.5 7V4.5h5V7M6 7l1 13h10l1-13M10 11v5.5M14 11v5.5"/>`,
  close: svg`<path d="M6 6l12 12M18 6L6 18"/>`,
  chevron: svg`<path d="M9.5 6l6 6-6 6"/>`,
  check: svg`<path d="M5 12.5l4.5 4.5L19 7.5"/>`,
  success: svg`<circle cx="12" cy="12" r="9"/><path d="M8 12.5l2.8 2.8 5.2-5.6"/>`,
  failed: svg`<circle cx="12" cy="12" r="9"/><path d="M9 9l6 6M15 9l-6 6"/>`,
  cancelled: svg`<circle cx="12" cy="12" r="9"/><path d="M5.7 5.7l12.6 12.6"/>`,
  queued: svg`<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3.5 2"/>`,
  running: svg`<path d="M12 3a9 9 0 1 1-9 9" class="spin"/>`,
  stop: svg`<rect x="6.5" y="6.5" width="11" height="11" rx="1.5"/>`,
  sun: svg`<circle cx="12" cy="12" r="4"/><path d="M12 2.5v2M12 19.5v2M2.5 12h2M19.5 12h2M5.3 5.3l1.4 1.4M17.3 17.3l1.4 1.4M5.3 18.7l1.4-1.4M17.3 6.7l1.4-1.4"/>`,
  moon: svg`<path d="M19.5 14.5A7.8 7.8 0 0 1 9.5 4.5a7.8 7.8 0 1 0 10 10z"/>`,
  system: svg`<circle cx="12" cy="12" r="8.5"/><path d="M12 3.5a8.5 8.5 0 0 1 0 17z" fill="currentColor"/>`,
  log: svg`<rect x="3" y="4.5" width="18" height="15" rx="2"/><path d="M7 9.5l3 2.5-3 2.5M12.5 15H17"/>`,
  jobs: svg`<path d="M9.5 6.5H20M9.5 12H20M9.5 17.5H20"/><circle cx="5" cy="6.5" r="1"/><circle cx="5" cy="12" r="1"/><circle cx="5" cy="17.5" r="1"/>`,
  logout: svg`<path d="M14.5 4h4A1.5 1.5 0 0 1 20 5.5v13a1.5 1.5 0 0 1-1.5 1.5h-4M10 8l-4 4 4 4M6 12h9.5"/>`,
  warning: svg`<path d="M12 4L2.8 19.5h18.4z"/><path d="M12 10v4.5M12 17.2v.1"/>`,
  info: svg`<circle cx="12" cy="12" r="9"/><path d="M12 11v5.5M12 7.7v.1"/>`,
  refresh: svg`<path d="M19.5 12a7.5 7.5 0 1 1-2.2-5.3"/><path d="M19.5 4v4.5H15"/>`,
  chip: svg`<rect x="7" y="7" width="10" height="10" rx="1.5"/><path d="M9.5 7V4M14.5 7V4M9.5 20v-3M14.5 20v-3M7 9.5H4M7 14.5H4M20 9.5h-3M20 14.5h-3"/>`,
  arrowDown: svg`<path d="M12 5v14M6 13l6 6 6-6"/>`,
  arrowUp: svg`<path d="M12 19V5M6 11l6-6 6 6"/>`,
  copy: svg`<rect x="8.5" y="8.5" width="11.5" height="11.5" rx="2"/><path d="M15.5 8.5V5.5A1.5 1.5 0 0 0 14 4H5.5A1.5 1.5 0 0 0 4 5.5V14a1.5 1.5 0 0 0 1.5 1.5h3"/>`,
  folder: svg`<path d="M3.5 7A1.5 1.5 0 0 1 5 5.5h4.3l2 2.2H19A1.5 1.5 0 0 1 20.5 9.2v8.8a1.5 1.5 0 0 1-1.5 1.5H5A1.5 1.5 0 0 1 3.5 18z"/>`,
  package: svg`<path d="M12 3.5l8 4v9l-8 4-8-4v-9z"/><path d="M4 7.5l8 4 8-4M12 11.5v9M8 5.5l8 4"/>`,
  reset: svg`<path d="M4.5 12a7.5 7.5 0 1 0 2.2-5.3"/><path d="M4.5 4v4.5H9"/>`,
  treemap: svg`<rect x="3.5" y="4.5" width="17" height="15" rx="1.5"/><path d="M11 4.5v15M11 12.5h9.5M16 12.5v7"/>`,
  disk: svg`<rect x="3.5" y="13" width="17" height="6.5" rx="1.5"/><path d="M5.5 13l2.2-7.5h8.6l2.2 7.5M16.5 16.3v.1"/>`,
  plug: svg`<path d="M9 3.5V8M15 3.5V8M6.5 8h11v3a5.5 5.5 0 0 1-11 0zM12 16.5v4"/>`,
} as const;

export type IconName = keyof typeof PATHS;

export function icon(name: IconName, className = ''): TemplateResult {
  return html`<svg class="icon ${className}" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${PATHS[name]}</svg>`;
}
