import type { HandlerModule } from '../../core/module.js';
import { Response } from '../../core/response.js';

export interface EchoConfig {
  /** Include the body (as text) in the answer; otherwise only its length. Default false. */
  body?: boolean;
}

/**
 * Answers with the request as anomaly parsed it, as JSON: method, path, query, headers, params,
 * protocol, client, and the body's length. It reads the whole body (under the site's max_body,
 * so oversized uploads get 413), which makes it the handler to debug clients and proxies with.
 */
export const echoModule: HandlerModule<EchoConfig> = {
  id: 'echo',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { body: { type: 'boolean' } },
  },
  create(config) {
    const includeBody = config.body === true;
    return {
      handle: async (req) => {
        const body = await req.body.bytes();
        return Response.json({
          method: req.method,
          scheme: req.scheme,
          authority: req.authority,
          path: req.path,
          query: req.query.toObject(),
          headers: req.headers.toObject(),
          params: req.params,
          route: req.route,
          protocol: req.protocol,
          remote: req.conn.remoteAddress,
          tls: req.conn.tls,
          bodyLength: body.length,
          ...(includeBody ? { body: body.toString('utf8') } : {}),
        });
      },
    };
  },
};
