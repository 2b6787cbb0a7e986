/**
 * Finds the JDK the Java engine runs on: JAVA_HOME first, then `javac` on the PATH. A JDK is
 * needed, not just a runtime: apps are compiled at load with javax.tools (jdk.compiler), and the
 * bridge loads the JDK's libjvm.so into this process. When none is found the message says what is
 * missing and how to fix it; only Java apps fail (503), the server runs.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

export interface Jdk {
  readonly home: string;
  readonly javac: string;
  readonly libjvm: string;
  /** "17.0.15", from the JDK's release file ('' when it has none). */
  readonly version: string;
}

/** Oldest Java the host and binding sources compile with. */
const MIN_MAJOR = 11;

const LIBJVM = process.platform === 'darwin' ? ['lib/server/libjvm.dylib'] : process.platform === 'win32' ? ['bin/server/jvm.dll'] : ['lib/server/libjvm.so', 'jre/lib/amd64/server/libjvm.so'];
const JAVAC = process.platform === 'win32' ? 'javac.exe' : 'javac';

const INSTALL_HINT = 'install a JDK 11 or newer (Debian/Ubuntu: apt-get install default-jdk-headless) or set JAVA_HOME to one';

export class JdkMissing extends Error {
  override readonly name = 'JdkMissing';
}

function release(home: string): string {
  try {
    const m = /^JAVA_VERSION="([^"]+)"/m.exec(readFileSync(join(home, 'release'), 'utf8'));
    return m === null ? '' : m[1];
  } catch {
    return '';
  }
}

function majorOf(version: string): number {
  const parts = version.split('.');
  const first = Number(parts[0]);
  return first === 1 ? Number(parts[1]) : first; // "1.8.0_392" is Java 8
}

/** Checks one candidate home; a reason string when it is not a usable JDK. */
function inspect(home: string, source: string): Jdk | string {
  if (!existsSync(home)) return `${source} points to ${home}, which does not exist`;
  const javac = join(home, 'bin', JAVAC);
  const libjvm = LIBJVM.map((p) => join(home, p)).find((p) => existsSync(p));
  if (libjvm === undefined) return `${source} (${home}) has no ${LIBJVM[0]}`;
  if (!existsSync(javac)) return `${source} (${home}) is a Java runtime without a compiler (no bin/${JAVAC}): Java apps are compiled when they load, so a JDK is needed`;
  const version = release(home);
  if (version !== '' && majorOf(version) < MIN_MAJOR) return `${source} (${home}) is Java ${version}; Java ${MIN_MAJOR} or newer is needed`;
  return { home, javac, libjvm, version };
}

function onPath(name: string, pathVar: string | undefined): string | null {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** The JDK to use, or JdkMissing saying what was tried. */
export function findJdk(env: NodeJS.ProcessEnv = process.env): Jdk {
  const tried: string[] = [];
  const javaHome = env.JAVA_HOME;
  if (javaHome !== undefined && javaHome !== '') {
    const found = inspect(javaHome, 'JAVA_HOME');
    if (typeof found !== 'string') return found;
    tried.push(found);
  } else {
    tried.push('JAVA_HOME is not set');
  }
  const javac = onPath(JAVAC, env.PATH);
  if (javac !== null) {
    const home = dirname(dirname(realpathSync(javac)));
    const found = inspect(home, `javac on the PATH (${javac})`);
    if (typeof found !== 'string') return found;
    tried.push(found);
  } else {
    const java = onPath(process.platform === 'win32' ? 'java.exe' : 'java', env.PATH);
    tried.push(java === null ? 'no javac or java on the PATH' : `only a Java runtime on the PATH (${java}), no javac`);
  }
  throw new JdkMissing(`Java apps need a JDK, and none was found: ${tried.join('; ')}. To fix: ${INSTALL_HINT}.`);
}
