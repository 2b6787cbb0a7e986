import type { Completion } from '../core/processor.js';
import type { Request } from '../core/request.js';
import type { Response } from '../core/response.js';

/** Where access-log lines go: a pino-compatible JSON line sink, or a logger for pretty output. */
export type AccessSink = { kind: 'json'; write: (line: string) => void } | { kind: 'logger'; info: (obj: object, msg: string) => void };

const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

function str(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"';
}

/**
 * Milliseconds with three decimals ("0.042"), from integers: formatting a fractional double is the
 * costliest step of a log line otherwise.
 */
function millis(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!(us >= 0 && us < 2 ** 31)) return String(Math.round(ms * 1000) / 1000);
  const frac = us % 1000;
  const whole = (us - frac) / 1000;
  return frac === 0 ? String(whole) : whole + (frac < 10 ? '.00' : frac < 100 ? '.0' : '.') + frac;
}

/**
 * One structured line per finished request, in pino's JSON shape (level 30, time, pid, msg
 * "request"). Serialized by hand for the fixed set of fields: this runs for every request.
 */
export function accessLogger(sink: AccessSink): (req: Request, res: Response | null, done: Completion) => void {
  if (sink.kind === 'logger') {
    return (req, _res, done) => sink.info(accessFields(req, done), 'request');
  }
  const pid = process.pid;
  // The client address is the same for every request of a connection: escape it once.
  const remotes = new WeakMap<object, string>();
  const remoteOf = (conn: Request['conn']): string => {
    let json = remotes.get(conn);
    if (json === undefined) {
      json = str(conn.remoteAddress);
      remotes.set(conn, json);
    }
    return json;
  };
  // Many requests end in the same millisecond: the line's start is made once per millisecond.
  let lastTime = 0;
  let start = '';
  return (req, _res, done) => {
    const now = Date.now();
    if (now !== lastTime) {
      lastTime = now;
      start = `{"level":30,"time":${now},"pid":${pid},"host":`;
    }
    const error = done.error !== undefined ? `,"error":${str(done.error.message)}` : '';
    // One template: fewer pieces to join than a chain of +, so less to allocate and to copy out.
    // node:http and nghttp2 only let token characters through in a method.
    sink.write(
      `${start}${str(req.host)},"method":"${req.method}","path":${str(req.path)},"status":${done.status},"bytes":${done.bytes},"duration":${millis(performance.now() - req.startedAt)},"protocol":"${req.protocol}","remote":${remoteOf(req.conn)}${error},"msg":"request"}\n`,
    );
  };
}

export function accessFields(req: Request, done: Completion): Record<string, unknown> {
  return {
    host: req.host,
    method: req.method,
    path: req.path,
    status: done.status,
    bytes: done.bytes,
    duration: Math.round((performance.now() - req.startedAt) * 1000) / 1000,
    protocol: req.protocol,
    remote: req.conn.remoteAddress,
    error: done.error?.message,
  };
}
