import { Response } from '../../core/response.js';
import { GuestError, type GuestErrorKind } from '../../../runtimes/contract.js';

/** What the client gets for each kind of guest failure: a status and a short text, never a stack. */
const ANSWERS: Readonly<Record<GuestErrorKind, { status: number; text: string }>> = {
  load: { status: 503, text: 'app failed to load' },
  exception: { status: 500, text: 'app error' },
  deadline: { status: 504, text: 'app timed out' },
  memory: { status: 503, text: 'app out of memory' },
  response: { status: 500, text: 'app returned an invalid response' },
};

export function statusOf(kind: GuestErrorKind): number {
  return ANSWERS[kind].status;
}

/** Any failure of a guest call as a GuestError (anything else an engine throws counts as an exception). */
export function asGuestError(err: unknown): GuestError {
  if (err instanceof GuestError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GuestError('exception', message, undefined, { cause: err });
}

export function errorAnswer(kind: GuestErrorKind): Response {
  const { status, text } = ANSWERS[kind];
  return new Response(status, `${status} ${text}\n`, { 'content-type': 'text/plain; charset=utf-8' });
}

export function busyAnswer(): Response {
  return new Response(503, '503 app busy\n', { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' });
}

/** "file:line: message" with the message cut to its first line (engines may append a stack). */
export function describe(err: GuestError, fallbackFile: string): { file: string; line: number | null; message: string; where: string } {
  const file = err.file ?? fallbackFile;
  const line = err.line;
  let message = err.message.split('\n', 1)[0].trim();
  if (message.length > 500) message = message.slice(0, 497) + '...';
  return { file, line, message, where: line === null ? file : `${file}:${line}` };
}
