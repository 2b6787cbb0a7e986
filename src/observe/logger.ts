import { pino, type Logger as PinoLogger } from 'pino';
import type { LogConfig } from '../config/types.js';

export type AppLogger = PinoLogger;

/**
 * The process logger. JSON lines go through an asynchronous buffered destination so that access
 * logging stays off the request's critical path; on a terminal (or format: pretty) pino-pretty
 * renders one readable line per request in a worker thread.
 */
export function createLogger(config: LogConfig, stream: NodeJS.WritableStream = process.stdout): AppLogger {
  const pretty = config.format === 'pretty' || (config.format === 'auto' && (stream as NodeJS.WriteStream).isTTY === true);
  const options = { level: config.level, base: { pid: process.pid } };
  if (pretty) {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: {
          colorize: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,host,method,path,status,bytes,duration,protocol,remote',
          messageFormat: '{msg}{if method} {protocol} {remote} {method} {host}{path} → {status} {bytes}B {duration}ms{end}',
          singleLine: false,
        },
      },
    });
  }
  if (stream === process.stdout) {
    return pino(options, pino.destination({ dest: 1, sync: false, minLength: 4096 }));
  }
  return pino(options, stream);
}

/** Writes out what the asynchronous destination still buffers (call before exiting). */
export function flushLogger(logger: AppLogger): void {
  try {
    logger.flush();
  } catch {
    /* the destination may already be closed */
  }
}
