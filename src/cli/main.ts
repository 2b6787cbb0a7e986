#!/usr/bin/env node
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AnomalyError } from '../core/errors.js';
import { ConfigError, demoConfig, formatProblems, loadConfigFile, staticDirConfig, watchConfigFile } from '../config/index.js';
import type { ServerConfig } from '../config/types.js';
import { createLogging, type Logging } from '../observe/logger.js';
import { AnomalyServer } from '../server/server.js';
import { standardCaches, standardCertificates, standardModules } from '../standard.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const USAGE = `anomaly — HTTP/1.1 + HTTP/2 web and application server

usage:
  anomaly serve [FILE]            serve FILE (YAML or JSON); without FILE, the embedded demo
  anomaly serve --static DIR      serve DIR as a static site (zero config)
        [--port N]                  TLS port (default 8443); --plain-port N adds plain HTTP
        [--listing]                 directory listings
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
    await loadConfigFile(args[0], standardModules());
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

async function serve(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      static: { type: 'string' },
      port: { type: 'string' },
      'plain-port': { type: 'string' },
      listing: { type: 'boolean' },
    },
  });
  const file = positionals[0];
  const modules = standardModules();
  const load = async (): Promise<ServerConfig> => {
    if (file !== undefined) return loadConfigFile(file, modules);
    if (values.static !== undefined) {
      return staticDirConfig(resolve(values.static), {
        tls: values.port !== undefined ? Number(values.port) : 8443,
        plain: values['plain-port'] !== undefined ? Number(values['plain-port']) : null,
        listing: values.listing === true,
      }, modules);
    }
    return demoConfig(PACKAGE_ROOT, modules);
  };

  let config: ServerConfig;
  try {
    config = await load();
  } catch (err) {
    return reportConfigError(err);
  }
  const logging = createLogging(config.log);
  const logger = logging.logger;
  const caches = standardCaches();
  const server = new AnomalyServer({ modules, logger, access: logging.access, certificates: standardCertificates, wrapRoute: caches.wrapRoute });

  // Signal handlers go in before the listeners open: a SIGHUP that arrives as soon as the port
  // accepts would otherwise take node's default action and kill the process.
  let started = false;
  let pendingReload = false;
  // The watcher and SIGHUP often fire for the same edit: a watcher event for content already
  // tried (applied or rejected) is skipped, so one edit gives one reload and one log line.
  let lastTried: string | null = null;
  const reload = async (why: 'SIGHUP' | 'file changed'): Promise<void> => {
    if (file === undefined) return;
    if (!started) {
      pendingReload = true;
      return;
    }
    const digest = await fileDigest(file);
    if (why === 'file changed' && digest !== null && digest === lastTried) return;
    lastTried = digest;
    try {
      const next = await loadConfigFile(file, modules);
      await server.reload(next);
      logger.info({ file: resolve(file), why }, 'configuration reloaded');
    } catch (err) {
      const message = err instanceof ConfigError ? formatProblems(err.problems) : (err as Error).message;
      logger.error({ file: resolve(file), why, problems: message }, `configuration not reloaded, the previous one keeps serving:\n${message}`);
    }
  };
  let watcher: { close(): void } | null = null;
  const finished = new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        void logging.flush().then(() => done(1));
        return;
      }
      stopping = true;
      watcher?.close();
      logger.info({ signal, drainMs: server.config?.limits.drainTimeout }, 'draining: finishing in-flight requests');
      void server.stop().then(() => {
        logger.info('stopped');
        void logging.flush().then(() => done(0));
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  process.on('SIGHUP', () => void reload('SIGHUP'));

  try {
    await server.start(config);
  } catch (err) {
    // An AnomalyError's message is complete and meant for people; pino's serializer would repeat every cause.
    if (err instanceof AnomalyError) logger.fatal({ code: err.code }, `cannot start: ${err.message}`);
    else logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
    await logging.flush();
    return 1;
  }
  started = true;
  announce(server, config, logger);
  if (file !== undefined) watcher = watchConfigFile(resolve(file), () => void reload('file changed'));
  if (pendingReload) void reload('SIGHUP');
  return finished;
}

async function fileDigest(file: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await readFile(file)).digest('hex');
  } catch {
    return null;
  }
}

function announce(server: AnomalyServer, config: ServerConfig, logger: Logging['logger']): void {
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
