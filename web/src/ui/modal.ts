/**
 * Native `<dialog>` handling shared by the drawer and every dialog:
 * `showModal()` gives the focus trap, the inert page behind and Esc to
 * close; this controller adds what it lacks: focus goes back to whatever
 * opened the dialog (through shadow roots), a click on the backdrop closes
 * it, and the host hears about the close.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** The focused element, looking inside open shadow roots. */
export function deepActiveElement(root: Document | ShadowRoot = document): HTMLElement | null {
  let element = root.activeElement;
  while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
  return element instanceof HTMLElement ? element : null;
}

export class ModalController implements ReactiveController {
  private returnFocus: HTMLElement | null = null;

  constructor(
    host: ReactiveControllerHost,
    private readonly dialog: () => HTMLDialogElement | null | undefined,
    private readonly onClosed: () => void = () => undefined,
  ) {
    host.addController(this);
  }

  hostConnected(): void {}

  get isOpen(): boolean {
    return this.dialog()?.open ?? false;
  }

  /** Opens as a modal; remembers where focus was so it can go back there. */
  open(): void {
    const dialog = this.dialog();
    if (!dialog || dialog.open) return;
    this.returnFocus = deepActiveElement();
    dialog.showModal();
  }

  close(): void {
    const dialog = this.dialog();
    if (dialog?.open) dialog.close();
  }

  /** Bind to the dialog's `close` event. */
  readonly handleClose = (): void => {
    const target = this.returnFocus;
    this.returnFocus = null;
    if (target?.isConnected) target.focus({ preventScroll: true });
    this.onClosed();
  };

  /** Bind to the dialog's `click`: a click on the backdrop (outside the box) closes. */
  readonly handleClick = (event: MouseEvent): void => {
    const dialog = this.dialog();
    if (!dialog || event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) dialog.close();
  };
}
