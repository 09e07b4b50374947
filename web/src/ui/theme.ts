/**
 * Light / dark. The default follows the system (and keeps following it when
 * it changes); the header button switches System → Light → Dark. The choice
 * is per browser (localStorage), because it is about the screen, not the
 * user's data, and it must apply before the socket connects to avoid a
 * flash. index.html applies it before first paint with the same key.
 */
export type ThemeChoice = 'system' | 'light' | 'dark';
export type Theme = 'light' | 'dark';

export const THEME_KEY = 'device-builder.theme';
const ORDER: ThemeChoice[] = ['system', 'light', 'dark'];

export function parseThemeChoice(value: unknown): ThemeChoice {
  return value === 'light' || value === 'dark' ? value : 'system';
}

export function nextThemeChoice(choice: ThemeChoice): ThemeChoice {
  return ORDER[(ORDER.indexOf(choice) + 1) % ORDER.length] ?? 'system';
}

export function resolveTheme(choice: ThemeChoice, systemDark: boolean): Theme {
  return choice === 'system' ? (systemDark ? 'dark' : 'light') : choice;
}

export class ThemeManager {
  private choiceValue: ThemeChoice;
  private readonly media: MediaQueryList | null;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly root: HTMLElement = document.documentElement) {
    this.media = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
    let stored: string | null = null;
    try {
      stored = localStorage.getItem(THEME_KEY);
    } catch {
      stored = null;
    }
    this.choiceValue = parseThemeChoice(stored);
    this.media?.addEventListener('change', () => this.apply());
    this.apply();
  }

  get choice(): ThemeChoice {
    return this.choiceValue;
  }

  get theme(): Theme {
    return resolveTheme(this.choiceValue, this.media?.matches ?? false);
  }

  set(choice: ThemeChoice): void {
    this.choiceValue = choice;
    try {
      if (choice === 'system') localStorage.removeItem(THEME_KEY);
      else localStorage.setItem(THEME_KEY, choice);
    } catch {
      // Not persisted; still applied for this page.
    }
    this.apply();
  }

  cycle(): void {
    this.set(nextThemeChoice(this.choiceValue));
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private apply(): void {
    this.root.dataset['theme'] = this.theme;
    for (const listener of [...this.listeners]) listener();
  }
}
