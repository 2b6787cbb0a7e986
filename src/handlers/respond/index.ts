import type { HandlerModule } from '../../core/module.js';
import { Response } from '../../core/response.js';

export interface RespondConfig {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
}

/** Answers with a fixed status, body and headers (nginx `return`, Caddy `respond`). */
export const respondModule: HandlerModule<RespondConfig> = {
  id: 'respond',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { type: 'integer', minimum: 100, maximum: 599 },
      body: { type: 'string' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
  create(config) {
    const status = config.status ?? 200;
    // A string body lets node:http send head and body in one write (a Buffer costs a writev).
    const body = config.body ?? '';
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(config.headers ?? {})) headers[name.toLowerCase()] = value;
    if (body.length > 0 && headers['content-type'] === undefined) headers['content-type'] = 'text/plain; charset=utf-8';
    // Shared and frozen: the protocol layers never mutate response headers.
    Object.freeze(headers);
    return { handle: () => new Response(status, body, headers) };
  },
};

export interface RedirectConfig {
  to: string;
  status?: 301 | 302 | 303 | 307 | 308;
}

/** Redirects; "{path}" and "{query}" in `to` are replaced by the request's path and query ("?..." or ""). */
export const redirectModule: HandlerModule<RedirectConfig> = {
  id: 'redirect',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['to'],
    properties: {
      to: { type: 'string', minLength: 1 },
      status: { type: 'integer', enum: [301, 302, 303, 307, 308] },
    },
  },
  create(config) {
    const status = config.status ?? 302;
    const to = config.to;
    const templated = to.includes('{path}') || to.includes('{query}');
    return {
      handle: (req) => {
        const location = templated
          ? to.replace(/\{path\}/g, req.path).replace(/\{query\}/g, req.rawQuery === '' ? '' : '?' + req.rawQuery)
          : to;
        return new Response(status, null, { location });
      },
    };
  },
};
