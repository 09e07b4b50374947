/**
 * Walk worker: runs inside a `worker_threads` thread, never on the server's
 * event loop, and answers the pool's requests: expand one folder, size a
 * whole subtree, read freshness pairs. Whole subtrees go to the walker the
 * pool chose: the native one when it is built (see native-walker.ts), else
 * the JS one (tree-walker.ts). Both follow the same rules, and the tests run
 * every walk case against both.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readBuildDirSignal } from './freshness.js';
import { nativeWalkerStatus, nativeWalkTree } from './native-walker.js';
import { expandDir, toLocal, walkTreeJs, type LocalPath } from './tree-walker.js';
import type { TreeTally, WalkRequest, WalkResponse, WalkWorkerData } from './walk-protocol.js';

const settings = (workerData ?? { engine: 'js', abort: new Int32Array(1) }) as WalkWorkerData;
const nativeWalk = settings.engine === 'native' ? nativeWalkTree() : null;

/** Everything under `root` with the walker the pool chose. */
function walkTree(root: LocalPath, treeDepth: number): TreeTally {
  if (settings.engine === 'js') return walkTreeJs(root, treeDepth);
  if (!nativeWalk) {
    // The pool found the addon on the main thread; failing here means the
    // install changed under us. Say so rather than silently walking slower.
    const status = nativeWalkerStatus();
    throw new Error(`native walker unavailable in the walk worker: ${status.available ? 'not loaded' : status.reason}`);
  }
  return nativeWalk(root, settings.abort, treeDepth);
}

function handle(request: WalkRequest): WalkResponse {
  try {
    switch (request.kind) {
      case 'expand':
        return { id: request.id, ok: true, kind: 'expand', result: expandDir(toLocal(request.dir), request.root, request.treeDepth, walkTree) };
      case 'walk':
        return { id: request.id, ok: true, kind: 'walk', result: walkTree(toLocal(request.dir), request.treeDepth) };
      case 'signals': {
        // Four numbers per folder: whole seconds, then exact ms, of each half.
        const pairs: number[] = [];
        for (const dir of request.dirs) {
          const signal = readBuildDirSignal(dir);
          pairs.push(signal.dirMtime, signal.infoMtime, signal.dirMtimeMs ?? 0, signal.infoMtimeMs ?? 0);
        }
        return { id: request.id, ok: true, kind: 'signals', result: pairs };
      }
    }
  } catch (err) {
    return { id: request.id, ok: false, error: (err as Error).message };
  }
}

parentPort?.on('message', (request: WalkRequest) => {
  parentPort?.postMessage(handle(request));
});
