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
 * handle() never throws and never rejects: failures come back as error responses.
 */
export interface RequestProcessor {
  handle(req: Request): HandlerResult;
  completed(req: Request, res: Response | null, done: Completion): void;
}

/**
 * What every protocol layer does with a request: run the processor, then `answer` with the
 * Response, or `fail` (a 500) when the handler threw or rejected although it must not. Exactly one
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
      (err: Error) => fail(a, b, req, err, processor),
    );
    return true;
  }
  answer(a, b, req, result, processor);
  return false;
}
