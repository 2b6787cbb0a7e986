/**
 * The one JVM of this process (java-bridge allows one, owned by the main JS thread), started on the
 * first Java app, with anomaly's own classes (the host side in runtimes/java/host, the guest API in
 * bindings/java) compiled once per source version into a cache directory and put on its class path.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Jdk } from './jdk.js';
import { openJni, type JniChannel } from './jni.js';

const run = promisify(execFile);

/** The static methods of anomaly.host.Host as java-bridge exposes them (Sync suffix: blocking call). */
export interface HostClass {
  load(codeBase64: string, deadlineMs: number, maxResponse: number, stackBytes: number): Promise<Buffer>;
  callSync(id: number, frameBase64: string, spinMicros: number, waitMicros: number): Buffer;
  /** Measurement only (bench/micro/java-call.mjs): the handler on the calling thread, no deadline. */
  callInlineSync(id: number, frameBase64: string): Buffer;
  /** Measurement only: the same on a java-bridge pool thread (the "async bridge call" design). */
  callInline(id: number, frameBase64: string): Promise<Buffer>;
  waitFor(ticket: number): Promise<Buffer>;
  disposeSync(id: number): void;
  statsSync(): string;
}

export interface Bridge {
  readonly host: HostClass;
  readonly jdk: Jdk;
  /** The JVM options it was started with. */
  readonly options: readonly string[];
  /** The fast call path (native/jni), or why it is not available (calls then go through java-bridge). */
  readonly jni: JniChannel | string;
}

/**
 * -Xrs: the JVM must not install SIGINT/SIGTERM/SIGHUP handlers (anomaly's own drain and reload
 * depend on them). -Xmx: the heap every Java app shares; a memory bomb meets OutOfMemoryError
 * there (503) instead of growing the process. Serial GC: no GC thread pool on small machines, and a
 * bomb reaches its OutOfMemoryError quickly. VM warnings go to stderr (stdout carries the JSON log).
 * ANOMALY_JVM_OPTS adds options (and may override these).
 */
export const DEFAULT_JVM_OPTIONS: readonly string[] = ['-Xrs', '-Xmx512m', '-Xss1m', '-XX:+UseSerialGC', '-XX:+DisplayVMOutputToStderr'];

/** The source tree's root, from runtimes/java (source) or dist/runtimes/java (build). */
function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const candidate = join(here, up);
    if (existsSync(join(candidate, 'bindings', 'java', 'anomaly', 'Handler.java'))) return candidate;
  }
  throw new Error(`bindings/java not found above ${here}`);
}

function javaFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...javaFiles(p));
    else if (name.endsWith('.java')) out.push(p);
  }
  return out.sort();
}

/**
 * Compiles the host and binding sources with the JDK's javac into
 * <tmp>/anomaly-java-<user>/<hash of sources and JDK>, once (later starts reuse it).
 */
export async function compileSupport(jdk: Jdk): Promise<string> {
  const root = repoRoot();
  const files = [...javaFiles(join(root, 'bindings', 'java')), ...javaFiles(join(root, 'runtimes', 'java', 'host'))];
  const hash = createHash('sha256').update(jdk.javac).update(jdk.version);
  for (const f of files) hash.update(relative(root, f)).update(readFileSync(f));
  const base = join(tmpdir(), `anomaly-java-${safeUser()}`);
  const dir = join(base, hash.digest('hex').slice(0, 16));
  if (existsSync(join(dir, 'anomaly', 'host', 'Host.class'))) return dir;
  mkdirSync(base, { recursive: true });
  const building = `${dir}.tmp-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  try {
    await run(jdk.javac, ['-d', building, '-encoding', 'UTF-8', '-g', '-nowarn', '-Xlint:none', '--release', '11', ...files]);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`compiling anomaly's Java support classes failed: ${(e.stderr ?? e.message).trim().split('\n').slice(0, 5).join(' | ')}`);
  }
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another process finished first
  }
  return dir;
}

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9_-]/g, '_');
  } catch {
    return String(process.getuid?.() ?? 'user');
  }
}

export function jvmOptions(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = (env.ANOMALY_JVM_OPTS ?? '').split(/\s+/).filter((s) => s !== '');
  return [...DEFAULT_JVM_OPTIONS, ...extra];
}

let started: Promise<Bridge> | null = null;

/** Starts the JVM (once per process) and imports the host class. */
export function startBridge(jdk: Jdk): Promise<Bridge> {
  started ??= (async () => {
    const classes = await compileSupport(jdk);
    // Slow calls (waitFor) and loads (compiles) each hold a bridge pool thread while they wait;
    // the default pool is one thread per core.
    process.env.JAVA_BRIDGE_THREAD_POOL_SIZE ??= '32';
    const require = createRequire(import.meta.url);
    const java = require('java-bridge') as typeof import('java-bridge');
    const options = jvmOptions();
    java.ensureJvm({ libPath: jdk.libjvm, opts: options, classpath: [classes] });
    const host = java.importClass('anomaly.host.Host') as unknown as HostClass;
    host.statsSync(); // initializes Host, which publishes itself for native/jni
    return { host, jdk, options, jni: await openJni(jdk) };
  })();
  started.catch(() => {
    started = null; // a later app may try again (e.g. after a JDK was installed)
  });
  return started;
}
