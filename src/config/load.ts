import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, visit, type Document } from 'yaml';
import { ErrorCodes } from '../core/errors.js';
import type { HandlerModule } from '../core/module.js';
import { fieldName, problemsFromAjv, type LocatedProblem } from './ajv-problems.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { crossFieldProblems, defaultHomeDir, normalise } from './normalise.js';
import { SourcePositions } from './positions.js';
import { compileValidator, type ModuleSchema } from './schema.js';
import type { ServerConfig } from './types.js';

export interface ParseOptions {
  /** Directory relative paths resolve against; default: the file's directory (cwd for "<virtual>" names). */
  readonly baseDir?: string;
  /** Environment for defaults (ANOMALY_DATA_DIR); default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Home directory for "~" and the default storage; default os.homedir(). */
  readonly homeDir?: string;
}

/** A parser compiled once for a set of handler modules; reuse it for reloads. */
export interface ConfigParser {
  parse(text: string, file: string, options?: ParseOptions): ServerConfig;
}

/** Names like "<embedded demo>" are not files: the config has no source path. */
const isVirtualName = (file: string) => file.startsWith('<') && file.endsWith('>');

export function createConfigParser(modules: ReadonlyArray<ModuleSchema>): ConfigParser {
  const validator = compileValidator(modules);
  return {
    parse(text, file, options = {}) {
      const lines = new LineCounter();
      // A byte-order mark is not part of the config and would shift columns.
      const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
      const doc = parseDocument(source, { lineCounter: lines, merge: true, prettyErrors: true, uniqueKeys: true });
      const positions = new SourcePositions(doc, lines);
      const syntax = syntaxProblems(doc, source, positions);
      if (syntax.length > 0) throw new ConfigError(ErrorCodes.CONFIG_SYNTAX, syntax.map((p) => withFile(p, file)));
      const data = toData(doc, positions, file);
      if (data === null || data === undefined) {
        throw new ConfigError(ErrorCodes.CONFIG_INVALID, [
          { file, line: 1, column: 1, field: '', message: 'the config is empty: it needs at least "sites" (see docs/configuration.md)' },
        ]);
      }
      const schemaProblems = problemsFromAjv(validator.validate(data), data, positions);
      const problems = [...schemaProblems, ...crossFieldProblems(data, validator.handlerIds, positions, schemaProblems)];
      if (problems.length === 0) problems.push(...moduleProblems(data as Record<string, unknown>, modules, validator.sectionKeys, positions));
      if (problems.length > 0) {
        problems.sort((a, b) => a.at.line - b.at.line || a.at.column - b.at.column);
        throw new ConfigError(ErrorCodes.CONFIG_INVALID, problems.map((p) => withFile(p, file)));
      }
      const virtual = isVirtualName(file);
      const config = normalise(data as Record<string, unknown>, validator.handlerIds, positions, {
        file,
        source: virtual ? null : resolve(file),
        baseDir: resolve(options.baseDir ?? (virtual ? process.cwd() : dirname(resolve(file)))),
        env: options.env ?? process.env,
        homeDir: options.homeDir ?? defaultHomeDir(),
      });
      const sections: Record<string, unknown> = {};
      for (const key of validator.sectionKeys) if ((data as Record<string, unknown>)[key] !== undefined) sections[key] = (data as Record<string, unknown>)[key];
      config.sections = sections;
      return config;
    },
  };
}

/** What the modules' own validate() hooks say about each route's block (schema-valid data only). */
function moduleProblems(data: Record<string, unknown>, modules: ReadonlyArray<ModuleSchema>, sectionKeys: readonly string[], positions: SourcePositions): LocatedProblem[] {
  const sections: Record<string, unknown> = {};
  for (const key of sectionKeys) if (data[key] !== undefined) sections[key] = data[key];
  const problems: LocatedProblem[] = [];
  const sites = Array.isArray(data.sites) ? (data.sites as Array<{ routes?: Array<Record<string, unknown>> }>) : [];
  sites.forEach((site, s) => {
    (site.routes ?? []).forEach((route, r) => {
      for (const module of modules as ReadonlyArray<ModuleSchema & Pick<HandlerModule, 'validate'>>) {
        if (module.validate === undefined || route[module.id] === undefined) continue;
        const path = ['sites', s, 'routes', r, module.id];
        for (const message of module.validate(route[module.id], sections)) problems.push({ path, at: positions.field(path), message });
      }
    });
  });
  return problems;
}

/** Parses and validates config text. `file` names it in messages; throws ConfigError. */
export function parseConfig(text: string, file: string, modules: ReadonlyArray<ModuleSchema>, options?: ParseOptions): ServerConfig {
  return createConfigParser(modules).parse(text, file, options);
}

/** Reads, parses and validates a config file; throws ConfigError (READ, SYNTAX or INVALID). */
export async function loadConfigFile(path: string, modules: ReadonlyArray<ModuleSchema>, options?: ParseOptions): Promise<ServerConfig> {
  const parser = createConfigParser(modules);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(ErrorCodes.CONFIG_READ, [{ file: path, line: 0, column: 0, field: '', message: readFailure(err) }], { cause: err });
  }
  return parser.parse(text, path, options);
}

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'cannot read config: no such file';
    case 'EACCES':
    case 'EPERM':
      return 'cannot read config: permission denied';
    case 'EISDIR':
      return 'cannot read config: it is a directory, not a file';
    default:
      return `cannot read config: ${(err as Error).message}`;
  }
}

function withFile(problem: LocatedProblem, file: string): ConfigProblem {
  return { file, line: problem.at.line, column: problem.at.column, field: fieldName(problem.path), message: problem.message };
}

/** yaml's errors, one line each: its message without the code excerpt it appends. */
function syntaxProblems(doc: Document, text: string, positions: SourcePositions): LocatedProblem[] {
  const problems: LocatedProblem[] = [];
  const lines = new Set<number>();
  for (const error of doc.errors) {
    const at = error.linePos !== undefined ? { line: error.linePos[0].line, column: error.linePos[0].col } : positions.offset(error.pos[0]);
    // One mistake often yields several errors on the same line; the first is the useful one.
    if (lines.has(at.line)) continue;
    lines.add(at.line);
    problems.push({ path: [], at, message: `YAML syntax error: ${syntaxMessage(error.code, error.message, text.slice(error.pos[0]))}` });
  }
  return problems;
}

// yaml's wording is exact but not always telling: say what usually causes it.
const SYNTAX_HINTS: Readonly<Record<string, string>> = {
  BLOCK_AS_IMPLICIT_KEY: ' (check the indentation; quote values that contain ": ")',
  MULTILINE_IMPLICIT_KEY: ' (check the indentation)',
  BAD_INDENT: ' (check the indentation and closing brackets)',
  TAB_AS_INDENT: ' (indent with spaces)',
};

function syntaxMessage(code: string, message: string, rest: string): string {
  if (code === 'DUPLICATE_KEY') {
    const key = /^[^:\n]*/.exec(rest)?.[0].trim() ?? '';
    return key === '' ? 'duplicate key (keys must be unique)' : `duplicate key ${key.startsWith('"') ? key : JSON.stringify(key)} (keys must be unique in a map)`;
  }
  if (code === 'MULTIPLE_DOCS') return 'more than one YAML document ("---"): a config is one document';
  const firstLine = message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  const text = firstLine.charAt(0).toLowerCase() + firstLine.slice(1);
  return text + (SYNTAX_HINTS[code] ?? '');
}

/** The document as plain data; unresolvable aliases become a syntax error at the alias. */
function toData(doc: Document, positions: SourcePositions, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    const problems: ConfigProblem[] = [];
    visit(doc, {
      Alias(_key, alias) {
        if (alias.resolve(doc) === undefined) {
          const at = positions.offset(alias.range?.[0] ?? 0);
          problems.push({ file, line: at.line, column: at.column, field: '', message: `YAML syntax error: unknown alias *${alias.source} (define the anchor &${alias.source} before using it)` });
        }
      },
    });
    if (problems.length === 0) problems.push({ file, line: 1, column: 1, field: '', message: `YAML error: ${(err as Error).message}` });
    throw new ConfigError(ErrorCodes.CONFIG_SYNTAX, problems, { cause: err });
  }
}
