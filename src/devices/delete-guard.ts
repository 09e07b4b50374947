/**
 * The one gate every build-folder deletion goes through (behaviour item 27).
 *
 * The path we are asked to wipe usually comes from StorageJSON's
 * `build_path`, a file anyone can hand-edit. A build folder is therefore only
 * deletable when, after resolving `..` and every symbolic link in its parent
 * chain, it lies strictly inside one of the build roots (the data dir's
 * `build/`, `$ESPHOME_BUILD_PATH`, the device's own `esphome.build_path`) and
 * is not the file-system root, the home folder, the config dir, the data dir
 * or a parent of any of them. Anything else is refused with a reason in plain
 * words; the caller logs it and carries on without deleting.
 *
 * A build folder that is itself a symbolic link is allowed only as "remove
 * the link": the verdict says so, and the link's target is never touched.
 *
 * The checks read the file system (realpath, lstat) but change nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type GuardVerdict =
  | {
      ok: true;
      /** The folder to remove, with its parent chain's symlinks resolved. */
      path: string;
      /** The folder itself is a symbolic link: remove the link, never its target. */
      symlink: boolean;
    }
  | { ok: false; reason: string };

export interface GuardContext {
  configDir: string;
  dataDir: string;
  /** Folders whose strict descendants may be deleted; see {@link defaultBuildRoots}. */
  buildRoots: string[];
  /** Defaults to `os.homedir()`. */
  homeDir?: string;
}

/**
 * `<dataDir>/build`, plus `<dataDir>/$ESPHOME_BUILD_PATH` when set, plus the
 * device's own `esphome.build_path` (relative to the data dir unless
 * absolute). Duplicates removed, order kept.
 */
export function defaultBuildRoots(dataDir: string, env: NodeJS.ProcessEnv = process.env, buildPathOption: string | null = null): string[] {
  const roots = [path.resolve(dataDir, 'build')];
  const fromEnv = env['ESPHOME_BUILD_PATH'];
  if (fromEnv && !fromEnv.includes('\0')) roots.push(path.resolve(dataDir, fromEnv));
  if (buildPathOption && !buildPathOption.includes('\0')) roots.push(path.resolve(dataDir, buildPathOption));
  return [...new Set(roots)];
}

class Refusal extends Error {}

function refuse(reason: string): never {
  throw new Refusal(reason);
}

/** `child` is a strict descendant of `parent` (both absolute and normalized). */
export function isStrictlyInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

function isSameOrAncestor(candidate: string, of: string): boolean {
  return candidate === of || isStrictlyInside(of, candidate);
}

function isSymlink(target: string): boolean {
  try {
    return fs.lstatSync(target).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Resolves every symlink of the deepest existing ancestor of `absPath` and
 * appends the components that do not exist (yet). Refuses on a dangling
 * symlink in the chain (following it later could land anywhere) and on any
 * error other than "does not exist".
 */
function resolveExisting(absPath: string): string {
  let head = absPath;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = fs.realpathSync(head);
      return tail.length > 0 ? path.join(real, ...tail) : real;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        refuse(`cannot resolve ${head}: ${code ?? (err as Error).message}`);
      }
      if (isSymlink(head)) refuse(`${head} is a symbolic link whose target does not exist`);
      const parent = path.dirname(head);
      if (parent === head) return absPath;
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

interface ProtectedDir {
  label: string;
  forms: string[];
}

function protectedDirs(ctx: GuardContext): ProtectedDir[] {
  const root = path.parse(path.resolve(ctx.configDir)).root;
  const list: { label: string; dir: string }[] = [
    { label: 'the file-system root', dir: root },
    { label: `the home folder`, dir: ctx.homeDir ?? os.homedir() },
    { label: 'the config dir', dir: ctx.configDir },
    { label: 'the data dir', dir: ctx.dataDir },
  ];
  return list
    .filter(({ dir }) => typeof dir === 'string' && dir !== '' && !dir.includes('\0'))
    .map(({ label, dir }) => {
      const lexical = path.resolve(dir);
      const forms = [lexical];
      try {
        forms.push(resolveExisting(lexical));
      } catch {
        // Unresolvable: the lexical form still protects it.
      }
      return { label, forms: [...new Set(forms)] };
    });
}

/** Trees nothing may be deleted from, even when a build root would cover them. */
function protectedTrees(ctx: GuardContext): { label: string; forms: string[] }[] {
  return [
    { label: 'the StorageJSON folder', dir: path.resolve(ctx.dataDir, 'storage') },
    { label: 'the archive folder', dir: path.resolve(ctx.configDir, 'archive') },
  ].map(({ label, dir }) => {
    const forms = [dir];
    try {
      forms.push(resolveExisting(dir));
    } catch {
      // The lexical form still protects it.
    }
    return { label, forms: [...new Set(forms)] };
  });
}

function checkProtected(shown: string, candidate: string, dirs: ProtectedDir[]): void {
  for (const { label, forms } of dirs) {
    for (const form of forms) {
      if (candidate === form) refuse(`build path ${shown} is ${label}${label.endsWith('root') ? '' : ` ${form}`}`);
      if (isStrictlyInside(form, candidate)) refuse(`build path ${shown} is a parent of ${label} ${form}`);
    }
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

/** Decides whether `buildPath` may be deleted; never throws. */
export function checkBuildFolderDeletable(buildPath: unknown, ctx: GuardContext): GuardVerdict {
  try {
    if (typeof buildPath !== 'string') refuse(`build path is not a string (got ${describeValue(buildPath)})`);
    if (buildPath.trim() === '') refuse('build path is empty');
    if (buildPath.includes('\0')) refuse('build path contains a NUL byte');
    if (!path.isAbsolute(buildPath)) refuse(`build path ${buildPath} is not absolute`);

    const lexical = path.resolve(buildPath);
    const dirs = protectedDirs(ctx);
    checkProtected(buildPath, lexical, dirs);

    // Resolve the parent chain only: a build folder that is itself a link
    // stays a link, so deleting it removes the link and not its target.
    const real = path.join(resolveExisting(path.dirname(lexical)), path.basename(lexical));
    const shown = real === lexical ? buildPath : `${buildPath} (resolves to ${real})`;
    checkProtected(shown, real, dirs);

    for (const { label, forms } of protectedTrees(ctx)) {
      for (const form of forms) {
        if (real === form || isStrictlyInside(real, form)) refuse(`build path ${shown} is inside ${label} ${form}`);
      }
    }

    // A root that is itself protected (or a parent of a protected dir, such
    // as `esphome.build_path: ..`) would make everything under it fair game.
    const roots: { shown: string; real: string }[] = [];
    const rootList = ctx.buildRoots.filter((root) => typeof root === 'string' && root !== '' && !root.includes('\0'));
    for (const root of rootList) {
      const lexicalRoot = path.resolve(root);
      let realRoot: string;
      try {
        realRoot = resolveExisting(lexicalRoot);
      } catch {
        continue;
      }
      const unsafe = dirs.some(({ forms }) => forms.some((form) => isSameOrAncestor(lexicalRoot, form) || isSameOrAncestor(realRoot, form)));
      if (!unsafe) roots.push({ shown: lexicalRoot, real: realRoot });
    }
    const rootsText = rootList.length === 0 ? '(none configured)' : rootList.map((root) => path.resolve(root)).join(' or ');
    if (roots.length === 0) refuse(`build path ${shown} cannot be checked: no usable build root among ${rootsText}`);
    if (roots.some((root) => root.real === real)) refuse(`build path ${shown} is the build root itself`);
    if (!roots.some((root) => isStrictlyInside(real, root.real))) {
      refuse(`build path ${shown} is outside the build root ${rootsText}`);
    }

    let symlink = false;
    try {
      symlink = fs.lstatSync(real).isSymbolicLink();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') refuse(`cannot inspect build path ${shown}: ${code ?? (err as Error).message}`);
    }
    return { ok: true, path: real, symlink };
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, reason: err.message };
    return { ok: false, reason: `build path could not be checked: ${(err as Error).message}` };
  }
}
