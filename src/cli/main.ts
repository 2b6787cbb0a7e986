#!/usr/bin/env node
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AnomalyError } from '../core/errors.js';
import type { AdminConfig } from '../admin/config.js';
import type { AdminControl } from '../admin/control.js';
import { AdminServer } from '../admin/server.js';
import { localControl, supervisorControl } from '../admin/controls.js';
import { runAdminOp } from '../admin/local.js';
import { ConfigError, createConfigParser, demoConfig, formatProblems, loadConfigFile, staticDirConfig, watchConfigFile } from '../config/index.js';
import type { ServerConfig } from '../config/types.js';
import { createLogging, type Logging } from '../observe/logger.js';
import { answerClusterMetrics } from '../observe/metrics/cluster.js';
import { PrometheusMetrics } from '../observe/metrics/prometheus.js';
import { OtlpTracer } from '../observe/tracing/otlp.js';
import { LocalBuckets, type BucketStore } from '../ratelimit/buckets.js';
import { RedisBuckets } from '../ratelimit/redis.js';
import { chainRouteWrappers, RouteLimiter } from '../ratelimit/layer.js';
import { tenantFiles, withTenantFiles } from '../tenants/files.js';
import { TenantFileWatchers } from '../tenants/watch.js';
import { AnomalyServer } from '../server/server.js';
import { Supervisor, type WorkerPorts } from '../server/workers/supervisor.js';
import { workerChannel, type WorkerChannel } from '../server/workers/worker.js';
import { standardCaches, standardCertificates, standardModules } from '../standard.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const USAGE = `anomaly — HTTP/1.1, HTTP/2 and HTTP/3 web and application server

usage:
  anomaly serve [FILE]            serve FILE (YAML or JSON); without FILE, the embedded demo
  anomaly serve --static DIR      serve DIR as a static site (zero config)
        [--port N]                  TLS port (default 8443); --plain-port N adds plain HTTP
        [--listing]                 directory listings
  anomaly serve ... --workers N   worker processes (default: the config's workers, else one per core)
  anomaly check FILE              validate FILE and print every problem
  anomaly version
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'check':
      return check(rest);
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`anomaly ${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`anomaly: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

async function check(args: string[]): Promise<number> {
  if (args.length !== 1) {
    process.stderr.write('usage: anomaly check FILE\n');
    return 2;
  }
  try {
    withTenantFiles(await loadConfigFile(args[0], standardModules()), createConfigParser(standardModules()));
    process.stdout.write(`ok: ${args[0]}\n`);
    return 0;
  } catch (err) {
    return reportConfigError(err);
  }
}

function reportConfigError(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(formatProblems(err.problems) + '\n');
    return 1;
  }
  throw err;
}

const SERVE_OPTIONS = {
  static: { type: 'string' },
  port: { type: 'string' },
  'plain-port': { type: 'string' },
  listing: { type: 'boolean' },
  workers: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The serve flags, or null after a one-line complaint and the usage (a typo is not a crash). */
function parseServeArgs(args: string[]): ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof SERVE_OPTIONS }>> | null {
  try {
    return parseArgs({ args, allowPositionals: true, options: SERVE_OPTIONS });
  } catch (err) {
    process.stderr.write(`anomaly serve: ${(err as Error).message.split('. ')[0]}\n\n${USAGE}`);
    return null;
  }
}

async function serve(args: string[]): Promise<number> {
  const parsed = parseServeArgs(args);
  if (parsed === null) return 2;
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const file = positionals[0];
  const modules = standardModules();
  const workersFlag = values.workers === undefined ? null : parseWorkers(values.workers);
  if (workersFlag === undefined) {
    process.stderr.write(`anomaly: --workers must be a number 1-256 or "auto", got "${values.workers}"\n`);
    return 2;
  }
  const tenantParser = createConfigParser(modules);
  const load = async (): Promise<ServerConfig> => {
    let config: ServerConfig;
    // Tenant files (tenants.<name>.file) are parsed like the main file and merged in as the tenant's.
    if (file !== undefined) config = withTenantFiles(await loadConfigFile(file, modules), tenantParser);
    else if (values.static !== undefined) {
      config = await staticDirConfig(resolve(values.static), {
        tls: values.port !== undefined ? Number(values.port) : 8443,
        plain: values['plain-port'] !== undefined ? Number(values['plain-port']) : null,
        listing: values.listing === true,
      }, modules);
    } else config = await demoConfig(PACKAGE_ROOT, modules);
    return workersFlag === null ? config : { ...config, workers: workersFlag };
  };

  let config: ServerConfig;
  try {
    config = await load();
  } catch (err) {
    return reportConfigError(err);
  }
  const worker = workerChannel();
  if (worker === null && config.workers > 1) return supervise(config, load, file);
  return runServer(config, load, file, worker);
}

/** --workers N | auto: the count ("auto" = one per core); undefined when invalid. */
function parseWorkers(text: string): number | undefined {
  if (text === 'auto') return availableParallelism();
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 256 ? n : undefined;
}

/** Reloads triggered by SIGHUP and by the file watcher, deduplicated by content. */
function reloadTrigger(
  file: string | undefined,
  apply: (why: 'SIGHUP' | 'file changed') => Promise<void>,
  extraFiles: () => string[] = () => [],
): (why: 'SIGHUP' | 'file changed') => Promise<void> {
  // The watcher and SIGHUP often fire for the same edit: a watcher event for content already
  // tried (applied or rejected) is skipped, so one edit gives one reload and one log line.
  let lastTried: string | null = null;
  return async (why) => {
    if (file === undefined) return;
    // The tenant files are part of the config: an edit of one is new content too.
    const digests = await Promise.all([file, ...extraFiles()].map(fileDigest));
    const digest = digests.join(',');
    if (why === 'file changed' && digest !== null && digest === lastTried) return;
    lastTried = digest;
    await apply(why);
  };
}

/** One process serving everything: the default with `workers: 1`, and what each worker runs. */
async function runServer(config: ServerConfig, load: () => Promise<ServerConfig>, file: string | undefined, worker: WorkerChannel | null): Promise<number> {
  const logging = createLogging(config.log, 1, worker !== null);
  const logger = worker === null ? logging.logger : logging.logger.child({ worker: worker.index });
  const caches = standardCaches();
  const metrics = config.admin != null ? new PrometheusMetrics() : null;
  // Chosen at start like the metrics: a change of tracing: needs a restart.
  const tracer = config.tracing != null ? new OtlpTracer(config.tracing, logger.child({ tracing: 'otlp' }), { 'process.pid': String(process.pid) }) : null;
  // Rate-limit buckets and in-flight counts live as long as the process, across reloads.
  // (The store is chosen at start; a change of rate_limits.store needs a restart.)
  const rl = config.rateLimits;
  const buckets: BucketStore =
    rl?.store === 'redis' && rl.url !== null ? new RedisBuckets({ url: rl.url, prefix: rl.prefix, timeout: rl.timeout, logger: logger.child({ rateLimits: 'redis' }) }) : new LocalBuckets();
  const limiter = new RouteLimiter(buckets);
  if (worker !== null) {
    // Memory cache zones live in each worker: purges (PURGE, unsafe methods, admin) go to all of them.
    caches.relayPurges(worker.cachePurged);
    worker.onCachePurge(caches.applyPeerPurge);
  }
  const server = new AnomalyServer({
    modules: standardModules(),
    logger,
    access: logging.access,
    certificates: standardCertificates,
    // The limits around the cache: a cache hit counts against a tenant's rate too.
    wrapRoute: chainRouteWrappers(caches.wrapRoute, limiter.wrapRoute),
    // One worker owns the UDP port; the others advertise it (docs/workers.md).
    http3Role: worker === null || worker.index === 1 ? 'serve' : 'advertise',
    // Metrics are kept when the admin API (which serves them) is configured.
    completionListeners: [...(metrics === null ? [] : [metrics.requests.completed]), ...(tracer === null ? [] : [tracer.completed])],
  });
  metrics?.attach(server);
  if (worker !== null) {
    if (metrics !== null) answerClusterMetrics(metrics.registry);
    worker.onAdmin((op) => runAdminOp(server, caches, op, worker.index));
  }

  // Signal handlers go in before the listeners open: a SIGHUP that arrives as soon as the port
  // accepts would otherwise take node's default action and kill the process.
  let started = false;
  let pendingReload = false;
  const applyReload = async (why: 'SIGHUP' | 'file changed' | 'supervisor' | 'admin API'): Promise<{ ok: boolean; message?: string }> => {
    try {
      const next = await load();
      await server.reload(next);
      logger.info({ file: file === undefined ? undefined : resolve(file), why }, 'configuration reloaded');
      return { ok: true };
    } catch (err) {
      return { ok: false, message: logRejectedReload(logger, file, why, err) };
    }
  };
  const reload = reloadTrigger(
    file,
    async (why) => {
      if (!started) {
        pendingReload = true;
        return;
      }
      await applyReload(why);
      tenantWatch.sync(worker === null && file !== undefined ? tenantFiles(server.config) : []);
    },
    () => tenantFiles(server.config),
  );
  const tenantWatch = new TenantFileWatchers(() => void reload('file changed'));
  let watcher: { close(): void } | null = null;
  let admin: AdminServer | null = null;
  const finished = stopOnSignals(logging, logger, 'draining: finishing in-flight requests', () => server.config?.limits.drainTimeout, async () => {
    watcher?.close();
    tenantWatch.close();
    void admin?.stop();
    await server.stop();
    await tracer?.close();
  }, (stop) => worker?.onStop(stop));
  if (worker === null) process.on('SIGHUP', () => void reload('SIGHUP'));
  else {
    // The supervisor owns reloads; a terminal hangup reaching the whole process group must not kill workers.
    process.on('SIGHUP', () => {});
    worker.onReload(() => applyReload('supervisor'));
  }

  try {
    await server.start(config);
  } catch (err) {
    // An AnomalyError's message is complete and meant for people; pino's serializer would repeat every cause.
    if (err instanceof AnomalyError) logger.fatal({ code: err.code }, `cannot start: ${err.message}`);
    else logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
    worker?.failed((err as Error).message);
    await logging.flush();
    return 1;
  }
  started = true;
  if (worker !== null) {
    worker.ready({ tlsPort: server.tlsPort, plainPort: server.plainPort, http3Port: server.http3Port, localCaPath: server.localCaPath });
    return finished;
  }
  if (config.admin != null && metrics !== null) {
    const control = localControl({
      configFile: file === undefined ? null : resolve(file),
      parser: createConfigParser(standardModules()),
      current: () => server.config,
      reload: () => applyReload('admin API'),
      server,
      caches,
      metrics,
    });
    admin = await startAdmin(config.admin, control, logger);
    if (admin === null) {
      await server.stop();
      await logging.flush();
      return 1;
    }
  }
  announce({ tlsPort: server.tlsPort, plainPort: server.plainPort, localCaPath: server.localCaPath }, config, logger);
  if (file !== undefined) watcher = watchConfigFile(resolve(file), () => void reload('file changed'));
  if (file !== undefined) tenantWatch.sync(tenantFiles(server.config));
  if (pendingReload) void reload('SIGHUP');
  return finished;
}

/**
 * `workers` > 1: this process supervises worker processes that each run runServer() on the
 * shared sockets. Reloads are validated here first, then rolled through the workers one by one.
 * SIGUSR2 replaces every worker with a fresh process (a binary upgrade: new code from disk).
 */
async function supervise(config: ServerConfig, load: () => Promise<ServerConfig>, file: string | undefined): Promise<number> {
  const logging = createLogging(config.log, 1, true);
  const logger = logging.logger;
  let current = config;
  const supervisor = new Supervisor({
    count: config.workers,
    logger,
    drainTimeoutMs: () => current.limits.drainTimeout,
    exclusiveIndex: 1,
    accept: config.workerAccept,
  });
  let started = false;
  let chain: Promise<unknown> = Promise.resolve();
  const serialise = <T>(task: () => Promise<T>): Promise<T> => {
    const next = chain.then(task, task);
    chain = next.catch(() => {});
    return next;
  };

  const applyReload = (why: 'SIGHUP' | 'file changed' | 'admin API'): Promise<{ ok: boolean; message?: string }> =>
    serialise(async () => {
      if (!started) return { ok: false, message: 'not started yet' };
      let next: ServerConfig;
      try {
        next = await load();
      } catch (err) {
        return { ok: false, message: logRejectedReload(logger, file, why, err) };
      }
      try {
        const listenChanged = JSON.stringify(next.listen) !== JSON.stringify(current.listen);
        if (next.workers !== current.workers) await supervisor.scale(next.workers);
        if (listenChanged) {
          // New addresses need new sockets: replace the workers one by one.
          current = next;
          await supervisor.restartAll();
          logger.info({ file: resolve(file as string), why, workers: next.workers }, 'configuration reloaded (workers replaced for the new listen addresses)');
          return { ok: true };
        }
        const outcome = await supervisor.reload();
        current = next;
        if (outcome.failures.length === 0) {
          logger.info({ file: resolve(file as string), why, workers: outcome.reloaded }, 'configuration reloaded');
          return { ok: true };
        }
        const message = `configuration reloaded by ${outcome.reloaded} worker(s), not by ${outcome.failures.map((f) => `worker ${f.index} (${f.message})`).join(', ')}`;
        logger.error({ file: resolve(file as string), why, failures: outcome.failures }, message);
        return { ok: false, message };
      } catch (err) {
        logger.error({ why }, `configuration reload failed: ${(err as Error).message}`);
        return { ok: false, message: (err as Error).message };
      }
    });
  const reload = reloadTrigger(
    file,
    async (why) => {
      await applyReload(why);
      tenantWatch.sync(file === undefined ? [] : tenantFiles(current));
    },
    () => tenantFiles(current),
  );
  const tenantWatch = new TenantFileWatchers(() => void reload('file changed'));
  const upgrade = (): Promise<void> =>
    serialise(async () => {
      if (!started) return;
      logger.info({ workers: supervisor.count }, 'replacing every worker (SIGUSR2)');
      try {
        await supervisor.restartAll();
        logger.info({ pids: supervisor.pids() }, 'every worker replaced');
      } catch (err) {
        logger.error({}, `worker replacement stopped, the remaining workers keep serving: ${(err as Error).message}`);
      }
    });

  let watcher: { close(): void } | null = null;
  let admin: AdminServer | null = null;
  const finished = stopOnSignals(logging, logger, 'draining: workers finish their in-flight requests', () => current.limits.drainTimeout, async () => {
    watcher?.close();
    tenantWatch.close();
    void admin?.stop();
    await supervisor.stop();
  });
  process.on('SIGHUP', () => void reload('SIGHUP'));
  process.on('SIGUSR2', () => void upgrade());

  let ports: WorkerPorts;
  try {
    ports = await supervisor.start();
  } catch (err) {
    logger.fatal({}, `cannot start: ${(err as Error).message}`);
    await logging.flush();
    return 1;
  }
  started = true;
  logger.info({ workers: supervisor.count, pids: supervisor.pids() }, `${supervisor.count} worker processes serving`);
  if (config.admin != null) {
    // The admin API lives here: it asks the workers over IPC and sums their metrics.
    const control = supervisorControl({ configFile: file === undefined ? null : resolve(file), parser: createConfigParser(standardModules()), current: () => current, reload: () => applyReload('admin API'), supervisor });
    admin = await startAdmin(config.admin, control, logger);
    if (admin === null) {
      await supervisor.stop();
      await logging.flush();
      return 1;
    }
  }
  announce(ports, config, logger);
  if (file !== undefined) watcher = watchConfigFile(resolve(file), () => void reload('file changed'));
  if (file !== undefined) tenantWatch.sync(tenantFiles(current));
  return finished;
}

/** Logs a config that was not applied (every problem, or the error); returns the text. */
function logRejectedReload(logger: Logging['logger'], file: string | undefined, why: string, err: unknown): string {
  const message = err instanceof ConfigError ? formatProblems(err.problems) : (err as Error).message;
  logger.error({ file: file === undefined ? undefined : resolve(file), why, problems: message }, `configuration not reloaded, the previous one keeps serving:\n${message}`);
  return message;
}

/**
 * SIGTERM/SIGINT (and `more`, e.g. the supervisor's stop request) drain once through `drain`, then
 * resolve 0; a second signal exits at once with 1. Repeats of the supervisor's own request are ignored.
 */
function stopOnSignals(
  logging: Logging,
  logger: Logging['logger'],
  message: string,
  drainMs: () => number | undefined,
  drain: () => Promise<void>,
  more?: (stop: (why: string) => void) => void,
): Promise<number> {
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        if (signal === 'supervisor' || signal === 'supervisor gone') return;
        logger.warn({ signal }, 'second signal: exiting now');
        void logging.flush().then(() => done(1));
        return;
      }
      stopping = true;
      logger.info({ signal, drainMs: drainMs() }, message);
      void drain().then(() => {
        logger.info('stopped');
        void logging.flush().then(() => done(0));
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    more?.(stop);
  });
}

/** The admin API's listener; null (logged) when it cannot listen: the caller stops what it started. */
async function startAdmin(config: AdminConfig, control: AdminControl, logger: Logging['logger']): Promise<AdminServer | null> {
  const admin = new AdminServer(config, control, logger);
  try {
    await admin.start();
    return admin;
  } catch (err) {
    logger.fatal({}, `cannot start the admin API on ${config.address}:${config.port}: ${(err as Error).message}`);
    return null;
  }
}

async function fileDigest(file: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await readFile(file)).digest('hex');
  } catch {
    return null;
  }
}

function announce(server: { tlsPort: number | null; plainPort: number | null; localCaPath: string | null }, config: ServerConfig, logger: Logging['logger']): void {
  const urls: string[] = [];
  const host = config.listen.address === '::' || config.listen.address === '0.0.0.0' ? 'localhost' : config.listen.address.includes(':') ? `[${config.listen.address}]` : config.listen.address;
  if (server.tlsPort !== null) urls.push(`https://${host}:${server.tlsPort}/ (HTTP/2 and HTTP/1.1)`);
  if (server.plainPort !== null) urls.push(`http://${host}:${server.plainPort}/ (HTTP/1.1 and h2c)`);
  const ca = server.localCaPath;
  logger.info(
    { urls, tlsPort: server.tlsPort, plainPort: server.plainPort, ca, config: config.source ?? '<embedded demo>', version: version() },
    `anomaly ${version()} serving ${config.source ?? 'the embedded demo'} on ${urls.join(', ')}`,
  );
  if (ca !== null) logger.info({ ca }, `local development CA: ${ca} (trust it, or: curl --cacert ${ca} https://${host}:${server.tlsPort}/)`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`anomaly: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
