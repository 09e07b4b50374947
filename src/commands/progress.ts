/**
 * The `sizes` progress line: on a terminal only (a pipe or a log file must
 * stay clean), and only once the pass has taken a second, so a fast warm run
 * prints nothing at all. Redrawn in place with `\r` + erase-line.
 */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  update(walked: number, configuration: string): void;
  clear(): void;
}

export function startProgress(stream: ProgressStream, delayMs = 1000): Progress {
  if (!stream.isTTY) return { update: () => undefined, clear: () => undefined };
  let text = 'Checking build folders…';
  let shown = false;
  const draw = (): void => {
    shown = true;
    stream.write(`\r\x1b[2K${text}`);
  };
  const timer = setTimeout(draw, delayMs);
  return {
    update: (walked, configuration) => {
      text = `Measuring build folders… ${walked} walked (last: ${configuration})`;
      if (shown) draw();
    },
    clear: () => {
      clearTimeout(timer);
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}
