import type { Logger } from '../core/logger.js';
import type { Completion } from '../core/processor.js';
import type { Request } from '../core/request.js';
import type { Response } from '../core/response.js';

/** One structured line per finished request. */
export function accessLogger(logger: Logger): (req: Request, res: Response | null, done: Completion) => void {
  return (req, _res, done) => {
    const duration = Number(process.hrtime.bigint() - req.startedAt) / 1e6;
    const line = {
      host: req.host,
      method: req.method,
      path: req.path,
      status: done.status,
      bytes: done.bytes,
      duration: Math.round(duration * 1000) / 1000,
      protocol: req.protocol,
      remote: req.conn.remoteAddress,
      error: done.error?.message,
    };
    logger.info(line, 'request');
  };
}
