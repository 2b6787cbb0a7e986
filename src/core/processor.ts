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
