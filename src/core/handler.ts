import { AnomalyError, ErrorCodes } from './errors.js';
import type { Request } from './request.js';
import type { Response } from './response.js';

export type HandlerResult = Response | Promise<Response>;

/** One call shape for everything that answers requests: static, proxy, respond, apps. */
export type Handler = (req: Request) => HandlerResult;

/** Runs around a handler; `next` may be called at most once. */
export type Middleware = (req: Request, next: () => HandlerResult) => HandlerResult;

/** Wraps `handler` in `middleware`, outermost first. */
export function compose(middleware: readonly Middleware[], handler: Handler): Handler {
  let composed = handler;
  for (let i = middleware.length - 1; i >= 0; i--) {
    const mw = middleware[i];
    const inner = composed;
    composed = (req: Request): HandlerResult => {
      let called = false;
      return mw(req, () => {
        if (called) throw new AnomalyError(ErrorCodes.MIDDLEWARE_NEXT_TWICE, 'middleware called next() twice');
        called = true;
        return inner(req);
      });
    };
  }
  return composed;
}
