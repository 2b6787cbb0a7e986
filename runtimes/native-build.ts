/**
 * Small native addons of the runtimes (native/<name>/), compiled on first use with the system's C or
 * C++ compiler against this Node's own headers, and cached in <tmp>/anomaly-native-<user>/<hash>/
 * (the hash covers the sources, the flags, the compiler and Node's ABI): a Node upgrade or an edited
 * source builds again, everything else loads the cached file. A machine without a compiler or
 * headers gets a reason instead of an addon, and the runtime keeps its portable path.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface AddonSpec {
  /** The folder under native/ and the addon's file name. */
  readonly name: string;
  /** Source files in that folder. */
  readonly sources: readonly string[];
  readonly language: 'c' | 'c++';
  /** Extra include directories (e.g. the JDK's). */
  readonly includeDirs?: readonly string[];
  /** Extra compiler and linker flags. */
  readonly flags?: readonly string[];
}

export type AddonResult = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

/** The repository's native/ folder, from runtimes/ (source) or dist/runtimes/ (build). */
function nativeDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['..', '../..']) {
    const candidate = join(here, up, 'native');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`native/ not found above ${here}`);
}

/** Where this Node's headers are: its own prefix (packages and tarballs ship them), else node-gyp's cache. */
export function nodeIncludeDir(): string | null {
  const prefix = (process.config.variables as { node_prefix?: string }).node_prefix;
  const candidates = [
    join(dirname(process.execPath), '..', 'include', 'node'),
    ...(prefix ? [join(prefix, 'include', 'node')] : []),
    join(homedir(), '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
  ];
  return candidates.find((d) => existsSync(join(d, 'node_api.h'))) ?? null;
}

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9_-]/g, '_');
  } catch {
    return String(process.getuid?.() ?? 'user');
  }
}

const building = new Map<string, Promise<AddonResult>>();

/** The addon's path, built if needed (once per process and source version). */
export function buildAddon(spec: AddonSpec): Promise<AddonResult> {
  let p = building.get(spec.name);
  if (p === undefined) {
    p = build(spec).catch((err: unknown) => ({ ok: false as const, reason: err instanceof Error ? err.message : String(err) }));
    building.set(spec.name, p);
  }
  return p;
}

async function build(spec: AddonSpec): Promise<AddonResult> {
  const include = nodeIncludeDir();
  if (include === null) return { ok: false, reason: `Node's headers (node_api.h) were not found next to ${process.execPath} or in node-gyp's cache` };
  const compiler = spec.language === 'c' ? (process.env.CC ?? 'cc') : (process.env.CXX ?? 'c++');
  const dir = join(nativeDir(), spec.name);
  const sources = spec.sources.map((s) => join(dir, s));
  const args = [
    ...(spec.language === 'c' ? ['-std=c11'] : ['-std=c++20']),
    '-O2', '-fPIC', '-shared', '-fvisibility=hidden', '-Wall',
    '-I', include, ...(spec.includeDirs ?? []).flatMap((d) => ['-I', d]),
    ...(spec.flags ?? []),
  ];
  const hash = createHash('sha256').update(compiler).update(args.join(' ')).update(process.versions.modules).update(process.version).update(process.arch);
  for (const s of sources) hash.update(readFileSync(s));
  const root = join(tmpdir(), `anomaly-native-${safeUser()}`);
  // Code is loaded from here: the folder must be this user's alone (another user could plant a library).
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const st = statSync(root);
  if ((process.getuid !== undefined && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) {
    return { ok: false, reason: `${root} is not owned by this user or is writable by others; remove it` };
  }
  const base = join(root, hash.digest('hex').slice(0, 16));
  const target = join(base, `${spec.name}.node`);
  if (existsSync(target)) return { ok: true, path: target };
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await run(compiler, [...args, '-o', tmp, ...sources, '-ldl'], { timeout: 120_000 });
  } catch (err) {
    rmSync(tmp, { force: true });
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') return { ok: false, reason: `no ${spec.language === 'c' ? 'C' : 'C++'} compiler found (${compiler}; set ${spec.language === 'c' ? 'CC' : 'CXX'} to use another)` };
    return { ok: false, reason: `compiling native/${spec.name} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(0, 4).join(' | ')}` };
  }
  renameSync(tmp, target); // atomic: a concurrent process either sees the whole file or builds its own
  return { ok: true, path: target };
}

/** Loads a built addon (a .node file) as a CommonJS module. */
export function loadAddon<T>(path: string): T {
  return createRequire(import.meta.url)(path) as T;
}
