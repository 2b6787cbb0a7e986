/**
 * The fast way to call Java apps: native/jni, a small addon that joins the JVM java-bridge started
 * and calls anomaly.host.Host.callDirect with two direct ByteBuffers over Node Buffers. A request
 * crosses as one JNI call (≈1 µs) instead of java-bridge's sync call with a base64 String (≈20 µs:
 * argument conversion and method resolution on every call). Built on first use with the system C
 * compiler (runtimes/native-build.ts); without one the engine keeps the java-bridge path.
 * ANOMALY_JAVA_JNI=0 turns it off.
 */
import type { GuestRequest } from '../contract.js';
import { buildAddon, loadAddon } from '../native-build.js';
import type { Jdk } from './jdk.js';
import { decodeAnswer, prepareFrame, writeFrame, type Answer } from './marshal.js';

interface JniAddon {
  init(libjvm: string): void;
  setBuffers(input: Buffer, output: Buffer): void;
  call(id: number, length: number, spinMicros: number, waitMicros: number): number;
  takeOversize(): Buffer;
}

const SMALL = 64 * 1024;

/** The process's channel into Host.callDirect (one JVM, called from the Node thread only). */
export class JniChannel {
  private input = Buffer.allocUnsafe(SMALL);
  private readonly output = Buffer.allocUnsafe(SMALL);

  constructor(private readonly addon: JniAddon) {
    addon.setBuffers(this.input, this.output);
  }

  /** One call: the answer ('R', 'E' thrown as GuestError, or 'P' with a ticket for Host.waitFor). */
  call(id: number, req: GuestRequest, spinMicros: number, waitMicros: number, file: string): Answer {
    const frame = prepareFrame(req);
    if (frame.maxBytes > this.input.length) this.resize(Math.max(frame.maxBytes, this.input.length * 2));
    const length = writeFrame(frame, this.input);
    let n: number;
    try {
      n = this.addon.call(id, length, spinMicros, waitMicros);
    } finally {
      // A large upload's buffer is not kept (Java copied the frame before answering).
      if (this.input.length > 1024 * 1024) this.resize(SMALL);
    }
    return n < 0 ? decodeAnswer(this.addon.takeOversize(), file) : decodeAnswer(this.output.subarray(0, n), file, true);
  }

  private resize(size: number): void {
    this.input = Buffer.allocUnsafe(size);
    this.addon.setBuffers(this.input, this.output);
  }
}

/** The channel, or why there is none (logged once by the engine). Host must be initialized. */
export async function openJni(jdk: Jdk, env: NodeJS.ProcessEnv = process.env): Promise<JniChannel | string> {
  if (env.ANOMALY_JAVA_JNI === '0') return 'ANOMALY_JAVA_JNI=0';
  const include = `${jdk.home}/include`;
  const built = await buildAddon({ name: 'jni', sources: ['jni_call.c'], language: 'c', includeDirs: [include, `${include}/${process.platform}`] });
  if (!built.ok) return built.reason;
  try {
    const addon = loadAddon<JniAddon>(built.path);
    addon.init(jdk.libjvm);
    return new JniChannel(addon);
  } catch (err) {
    return `loading native/jni failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}
