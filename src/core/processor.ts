import type { HandlerResult } from './handler.js';
import type { Request } from './request.js';
import type { Response } from './response.js';

/** How a request ended, reported once per request to the processor (access log, metrics). */
export interface Completion {
  readonly status: number;
  /** Body bytes sent (0 for HEAD and bodiless statuses). */
  readonly bytes: number;
  /** Set when the response could not be sent completely (client gone, stream error). */
  readonly error?: Error;
}

/**
 * The one function every protocol layer calls (H2O's "process request"): the dispatcher implements it.
 * handle() never throws; a failure it finds synchronously comes back as an error response, and a
 * promise it returns may reject: recover() then turns the error into the answer. (Chaining that
 * mapping onto every promise inside handle() would cost each asynchronous request a promise and a
 * microtask more.)
 */
export interface RequestProcessor {
  handle(req: Request): HandlerResult;
  /** The answer for a request whose handler rejected: an error response, never a throw. */
  recover(req: Request, err: unknown): Response;
  completed(req: Request, res: Response | null, done: Completion): void;
}

/**
 * What every protocol layer does with a request: run the processor, then `answer` with the
 * Response (a rejection recovered into one), or `fail` (a 500) when the processor itself threw. Exactly one
 * of them is called, synchronously when the handler answered synchronously. `a` and `b` are passed
 * through so that the callbacks can be made once per listener, not per request. Returns true when
 * the answer comes later (a layer that answers in order then holds the next request).
 */
export function runProcessor<A, B>(
  processor: RequestProcessor,
  req: Request,
  a: A,
  b: B,
  answer: (a: A, b: B, req: Request, res: Response, processor: RequestProcessor) => void,
  fail: (a: A, b: B, req: Request, err: Error, processor: RequestProcessor) => void,
): boolean {
  let result: HandlerResult;
  try {
    result = processor.handle(req);
  } catch (err) {
    fail(a, b, req, err as Error, processor);
    return false;
  }
  if (result instanceof Promise) {
    result.then(
      (res) => answer(a, b, req, res, processor),
      (err: unknown) => {
        let res: Response;
        try {
          res = processor.recover(req, err);
        } catch (e) {
          fail(a, b, req, e as Error, processor);
          return;
        }
        answer(a, b, req, res, processor);
      },
    );
    return true;
  }
  answer(a, b, req, result, processor);
  return false;
}
