import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { HandlerModule, ModuleContext } from '../../core/module.js';
import { UpstreamGroup } from '../../upstream/group.js';
import { checkTrusted, GROUP_KEYS, groupOptions, PROXY_SCHEMA, ProxyConfigError, UPSTREAMS_SCHEMA, type GroupConfig, type HeaderRules, type ProxyConfig } from './config.js';
import { forward } from './forward.js';
import { TrustedProxies, type ForwardingOptions, type ResponseRules } from './headers.js';
import { proxyUpgrade } from './websocket.js';

const VIA = '1.1 anomaly';

/** The named groups of the top-level `upstreams:` section. */
function namedGroups(sections: Readonly<Record<string, unknown>> | undefined): Record<string, GroupConfig> {
  return (sections?.upstreams ?? {}) as Record<string, GroupConfig>;
}

/** The group config a route uses (named or inline) and the field path for messages; throws ProxyConfigError. */
function resolveGroup(config: ProxyConfig, sections: Readonly<Record<string, unknown>> | undefined): { name: string; group: Partial<GroupConfig>; where: string } {
  if (config.upstream !== undefined) {
    const inline = GROUP_KEYS.filter((k) => (config as Record<string, unknown>)[k] !== undefined);
    if (inline.length > 0) throw new ProxyConfigError(`"upstream" names a group, so ${inline.join(', ')} belong under upstreams.${config.upstream}, not here`);
    const groups = namedGroups(sections);
    const groupConfig = groups[config.upstream];
    if (groupConfig === undefined) {
      const known = Object.keys(groups);
      throw new ProxyConfigError(`upstream: no group "${config.upstream}" under upstreams:${known.length > 0 ? ` (defined: ${known.join(', ')})` : ' (there is no upstreams: section)'}`);
    }
    return { name: config.upstream, group: groupConfig, where: `upstreams.${config.upstream}` };
  }
  if (config.to === undefined) throw new ProxyConfigError('needs "to" (upstream URLs) or "upstream" (a group from upstreams:)');
  return { name: 'inline', group: config, where: 'proxy' };
}

function groupFor(config: ProxyConfig, ctx: ModuleContext): { group: UpstreamGroup; owned: boolean } {
  const resolved = resolveGroup(config, ctx.sections);
  const parsed = groupOptions(resolved.name, resolved.group, resolved.where);
  // A relative CA path is relative to the config file, like every path in it.
  const options = parsed.tls.ca === null ? parsed : { ...parsed, tls: { ...parsed.tls, ca: resolvePath(ctx.baseDir, parsed.tls.ca) } };
  if (options.tls.ca !== null && !existsSync(options.tls.ca)) throw new ProxyConfigError(`${resolved.where}.tls.ca: no such file ${options.tls.ca}`);
  if (config.upstream !== undefined) {
    const name = config.upstream;
    const build = (): UpstreamGroup => new UpstreamGroup(options, ctx.logger);
    // Routes naming the same group share one: its pools, connection counts and health.
    if (ctx.shared === undefined) return { group: build(), owned: true };
    return { group: ctx.shared(`proxy.upstream.${name}`, build, (g) => g.close()), owned: false };
  }
  return { group: new UpstreamGroup(options, ctx.logger), owned: true };
}

function pairs(map: Record<string, string> | undefined): Array<[string, string]> {
  return Object.entries(map ?? {}).map(([k, v]) => [k.toLowerCase(), v]);
}

function removals(rules: HeaderRules | undefined): Set<string> {
  return new Set((rules?.remove ?? []).map((n) => n.toLowerCase()));
}

/**
 * Reverse proxy (nginx proxy_pass, Caddy reverse_proxy): balances over an upstream group, streams
 * both ways, rewrites forwarding headers, retries and fails over, and passes WebSockets through.
 */
export const proxyModule: HandlerModule<ProxyConfig> = {
  id: 'proxy',
  schema: PROXY_SCHEMA,
  sections: { upstreams: UPSTREAMS_SCHEMA },
  validate(config, sections) {
    try {
      checkTrusted(config.trusted_proxies ?? []);
      const resolved = resolveGroup(config, sections);
      groupOptions(resolved.name, resolved.group, resolved.where);
      return [];
    } catch (err) {
      if (err instanceof ProxyConfigError) return [err.message];
      throw err;
    }
  },
  create(config, ctx) {
    checkTrusted(config.trusted_proxies ?? []);
    const { group, owned } = groupFor(config, ctx);
    const via = config.via === false ? null : VIA;
    const forwarding: ForwardingOptions = {
      trusted: new TrustedProxies(config.trusted_proxies ?? []),
      xForwarded: config.x_forwarded !== false,
      forwarded: config.forwarded === true,
      via,
      host: config.host === undefined || config.host === 'preserve' || config.host === 'upstream' ? null : config.host,
      hostFromTarget: config.host === 'upstream',
      set: pairs(config.request_headers?.set),
      add: pairs(config.request_headers?.add),
      remove: removals(config.request_headers),
    };
    const response: ResponseRules = { via, set: pairs(config.response_headers?.set), remove: removals(config.response_headers) };
    const opts = { group, forwarding, response, stripPrefix: config.strip_prefix?.replace(/\/$/, '') ?? '', logger: ctx.logger };
    const websocket = config.websocket !== false;
    return {
      // Only WebSocket upgrades pass through; others (h2c) are answered as plain requests.
      handle: (req) => (websocket && req.upgrade !== null && /\bwebsocket\b/i.test(req.upgrade.protocol) ? proxyUpgrade(req, opts) : forward(req, opts)),
      dispose: owned ? () => group.close() : undefined,
      // Health and load of the upstream's targets, for the admin API and metrics.
      status: () => ({ upstream: group.name, targets: group.status() }),
    };
  },
};
