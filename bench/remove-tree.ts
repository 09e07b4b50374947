/**
 * One-off measurement for docs/RELIABILITY.md: deletes a 1,000,000-entry
 * build folder (1,000 folders x 1,000 empty files) with one engine and
 * reports wall time, peak RSS of this process (VmHWM: the worker thread
 * counts, an rm child does not) and the worst event-loop delay while
 * deleting (perf_hooks.monitorEventLoopDelay, 10 ms resolution, plus a
 * 5 ms timer's lateness).
 *
 *   npx tsx bench/remove-tree.ts <fs.rm|native|rm> [folders] [files per folder]
 *
 * `fs.rm` is the old code path (fs.promises.rm recursive), kept here only
 * to measure "before". Run each engine in its own process for a clean RSS.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { removeTree } from '../src/devices/tree-remover.js';

const engine = process.argv[2] ?? 'native';
const folders = Number(process.argv[3] ?? 1000);
const perFolder = Number(process.argv[4] ?? 1000);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'remove-bench-'));
const build = path.join(root, 'kitchen');
const script = `import os,sys\nfor d in range(${folders}):\n  p=os.path.join(sys.argv[1],"s%04d"%d); os.makedirs(p)\n  for f in range(${perFolder}): os.close(os.open(os.path.join(p,"f%d"%f), os.O_CREAT|os.O_WRONLY, 0o644))\n`;
const made = spawnSync('python3', ['-c', script, build], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);

const hwm = (): number => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
const before = process.memoryUsage.rss() / 1e6;
const histogram = monitorEventLoopDelay({ resolution: 10 });
let worstLate = 0;
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  worstLate = Math.max(worstLate, now - last - 5);
  last = now;
}, 5);
histogram.enable();
const started = performance.now();
if (engine === 'fs.rm') await fs.promises.rm(build, { recursive: true, force: true, maxRetries: 2 });
else await removeTree(build, { engine: engine as 'native' | 'rm' });
const seconds = (performance.now() - started) / 1000;
histogram.disable();
clearInterval(timer);
const result = {
  engine,
  entries: folders * perFolder + folders + 1,
  seconds: Number(seconds.toFixed(2)),
  rssBeforeMb: Math.round(before),
  peakRssMb: Math.round(hwm()),
  worstLoopDelayMs: Number((histogram.max / 1e6).toFixed(1)),
  worstTimerLateMs: Number(worstLate.toFixed(1)),
  gone: !fs.existsSync(build),
  load: os.loadavg()[0]?.toFixed(1),
};
console.log(JSON.stringify(result));
fs.rmSync(root, { recursive: true, force: true });
