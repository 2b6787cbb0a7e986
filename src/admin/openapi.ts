/** The OpenAPI 3.1 description of the admin API (served at /openapi.json). */
const json = (schema: Record<string, unknown>, description: string) => ({ description, content: { 'application/json': { schema } } });
const ERROR = { type: 'object', properties: { error: { type: 'string' } } };
const ERRORS = { type: 'object', properties: { ok: { type: 'boolean' }, errors: { type: 'array', items: { type: 'string' } }, rolledBack: { type: 'boolean' } } };
const UNAUTHORISED = json(ERROR, 'missing or wrong bearer token');

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'anomaly admin API',
      version: '1',
      description:
        'Control and monitoring of a running anomaly server. Listens on its own address (admin.listen, loopback by default); every path but / and /openapi.json needs "Authorization: Bearer <admin.token>" when a token is set. With worker processes the supervisor answers, asking every worker.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/metrics': {
        get: {
          summary: 'Prometheus metrics, summed over worker processes',
          responses: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } }, 401: UNAUTHORISED },
        },
      },
      '/status': {
        get: {
          summary: 'Requests, connections, reloads and TLS handshakes per process',
          responses: { 200: json({ type: 'object', properties: { requests: { type: 'integer' }, connections: { type: 'integer' }, processes: { type: 'array', items: { type: 'object' } } } }, 'status'), 401: UNAUTHORISED },
        },
      },
      '/config': {
        get: {
          summary: 'The config file as it is on disk (what the server runs)',
          responses: { 200: { description: 'the file', content: { 'application/yaml': { schema: { type: 'string' } } } }, 409: json(ERROR, 'no config file (embedded demo, --static)'), 401: UNAUTHORISED },
        },
        put: {
          summary: 'Replace the config: validated, written atomically, applied; rolled back if it cannot be applied',
          requestBody: { required: true, content: { 'application/yaml': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'object' } } } },
          responses: {
            200: json({ type: 'object', properties: { ok: { const: true } } }, 'applied by every process'),
            400: json(ERRORS, 'invalid: every problem as "file:line:col: field: message"; nothing changed'),
            409: json(ERROR, 'no config file'),
            500: json(ERRORS, 'valid but could not be applied (e.g. an app failed to load); the previous config was restored'),
            401: UNAUTHORISED,
          },
        },
      },
      '/reload': {
        post: {
          summary: 'Load the config file again and apply it (like SIGHUP)',
          responses: { 200: json({ type: 'object', properties: { ok: { const: true } } }, 'applied'), 500: json(ERROR, 'not applied; the previous config keeps serving'), 401: UNAUTHORISED },
        },
      },
      '/tenants': {
        get: { summary: 'Tenants with their sites and limits', responses: { 200: json({ type: 'object', properties: { tenants: { type: 'array', items: { type: 'object' } } } }, 'tenants'), 401: UNAUTHORISED } },
      },
      '/tenants/{name}/reload': {
        post: {
          summary: "Reload after an edit of the tenant's file: routes whose config did not change keep their handlers (other tenants' apps keep their instances)",
          parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 200: json({ type: 'object', properties: { ok: { const: true }, tenant: { type: 'string' } } }, 'applied'), 404: json(ERROR, 'no such tenant'), 500: json(ERROR, 'not applied'), 401: UNAUTHORISED },
        },
      },
      '/upstreams': {
        get: {
          summary: 'Health and in-flight requests of every upstream target, per process',
          responses: { 200: json({ type: 'object', properties: { upstreams: { type: 'array', items: { type: 'object' } } } }, 'upstreams'), 401: UNAUTHORISED },
        },
      },
      '/apps': {
        get: {
          summary: 'Every mounted app: file, engine, version, last load error, pool and call statistics, per process',
          responses: { 200: json({ type: 'object', properties: { apps: { type: 'array', items: { type: 'object' } } } }, 'apps'), 401: UNAUTHORISED },
        },
      },
      '/cache/purge': {
        post: {
          summary: 'Remove one cached entry by its cache key (default key: the absolute URL), or the whole zone without a key',
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['zone'], properties: { zone: { type: 'string' }, key: { type: 'string' } } } } } },
          responses: { 200: json({ type: 'object', properties: { purged: { type: 'boolean' }, workers: { type: 'array' } } }, 'purged'), 404: json(ERROR, 'not cached'), 401: UNAUTHORISED },
        },
      },
    },
  };
}
