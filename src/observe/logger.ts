import { fstatSync } from 'node:fs';
import { pino, type Logger as PinoLogger } from 'pino';
import type { LogConfig } from '../config/types.js';
import type { AccessSink } from './access-log.js';
import { LineWriter } from './line-writer.js';

/** Under PIPE_BUF (4096 bytes) with room for a few multi-byte characters. */
const SHARED_WRITE_CHARS = 3584;

/**
 * Whether writes to `fd` by several processes can mix mid-line above PIPE_BUF: pipes, sockets and
 * terminals. Regular files cannot (Linux serialises writes to one open file), nor can /dev/null;
 * there the writer keeps its 64 KiB batches (a 4 KiB piece costs a thread-pool round trip each),
 * and writes them in place: such a write never waits for a reader.
 */
export function writesCanInterleave(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return false;
    // /dev/null is character device 1:3.
    if (st.isCharacterDevice() && st.rdev === ((1 << 8) | 3)) return false;
    return true;
  } catch {
    return true;
  }
}

/** The process logger plus the sink the access log writes to. */
export interface Logging {
  readonly logger: PinoLogger;
  readonly access: AccessSink;
  /** Writes out whatever is still buffered; resolves once it is out (await it before exiting). */
  flush(): Promise<void>;
}

/**
 * JSON lines (the default when stdout is not a terminal) go through one batching LineWriter
 * shared by pino and the hand-serialized access log, so logging stays off the request's
 * critical path. On a terminal (or format: pretty) pino-pretty renders readable lines in a
 * worker thread. `shared`: other processes write to the same stdout (worker processes), so each
 * write to a pipe, socket or terminal stays under PIPE_BUF and lines never mix.
 */
export function createLogging(config: LogConfig, fd = 1, shared = false): Logging {
  const isTty = fd === 1 && process.stdout.isTTY === true;
  const pretty = config.format === 'pretty' || (config.format === 'auto' && isTty);
  const options = { level: config.level, base: { pid: process.pid } };
  if (pretty) {
    const logger = pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: {
          colorize: isTty,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,host,method,path,status,bytes,duration,protocol,remote,urls,tlsPort,plainPort,ca,config,version',
          messageFormat: '{msg}{if method} {protocol} {remote} {method} {host}{path} → {status} {bytes}B {duration}ms{end}',
        },
      },
    });
    // The transport formats in a worker thread: wait for it to drain, but never hang an exit on it.
    const flush = (): Promise<void> =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, 1000);
        logger.flush(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    return { logger, access: { kind: 'logger', info: (obj, msg) => logger.info(obj, msg) }, flush };
  }
  // Pipes, sockets and terminals: written from the thread pool (a slow reader must not stall the
  // loop), in PIPE_BUF pieces when other processes share them. Files and /dev/null: in place.
  const interleaves = writesCanInterleave(fd);
  const writer = new LineWriter(fd, interleaves ? (shared ? { maxWriteChars: SHARED_WRITE_CHARS } : {}) : { sync: true });
  const logger = pino(options, writer);
  const silent = config.level === 'silent' || pino.levels.values[config.level] > pino.levels.values.info;
  return {
    logger,
    access: { kind: 'json', write: silent ? () => {} : (line) => writer.write(line) },
    flush: async () => writer.flushSync(),
  };
}
