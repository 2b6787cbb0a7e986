import type { ErrorObject } from 'ajv';
import type { PathSegment, SourcePositions, SourcePosition } from './positions.js';
import { KIND_KEYWORD, ROUTE_KEYS } from './schema.js';
import { closestName } from './suggest.js';
import { describeValue } from './units.js';

/** A problem before it is given a file name: where, which field, what. */
export interface LocatedProblem {
  readonly path: readonly PathSegment[];
  readonly at: SourcePosition;
  readonly message: string;
  /** Set for unknown keys, so the loader can skip follow-on complaints about the same map. */
  readonly unknownKey?: string;
}

/** Turns ajv's errors into one located, human-worded problem per mistake. */
export function problemsFromAjv(errors: readonly ErrorObject[], data: unknown, positions: SourcePositions): LocatedProblem[] {
  const problems: LocatedProblem[] = [];
  const seen = new Set<string>();
  for (const error of relevantErrors(errors)) {
    const path = toSegments(error.instancePath, data);
    const problem = describe(error, path, positions);
    const id = `${problem.path.join('\u0000')}\u0001${problem.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    problems.push(problem);
  }
  return problems;
}

/**
 * Drops ajv's follow-on errors: "if" wrappers, the branch errors under oneOf/anyOf (their own
 * error says it all), and anything else reported for a value whose type is already wrong.
 */
function relevantErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const combinators = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
  const wrongType = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  return errors.filter((e) => {
    if (e.keyword === 'if') return false;
    if (combinators.some((prefix) => e.schemaPath.startsWith(prefix))) return false;
    if (e.keyword !== 'type' && wrongType.has(e.instancePath)) return false;
    return true;
  });
}

function describe(error: ErrorObject, path: PathSegment[], positions: SourcePositions): LocatedProblem {
  const params = error.params as Record<string, unknown>;
  const value: unknown = error.data;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((error.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
      const message = isRoute(path) ? unknownRouteField(key, known) : unknownField(key, known);
      return { path, at: positions.key(path, key), message, unknownKey: key };
    }
    case 'required':
      return { path, at: positions.field(path), message: `missing required field "${String(params.missingProperty)}"` };
    case 'type':
      return { path, at: positions.field(path), message: `must be ${typeNames(params.type)}, got ${describeValue(value)}` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]) ?? [];
      const names = allowed.map((v) => JSON.stringify(v));
      const suggestion = typeof value === 'string' ? closestName(value, allowed.filter((v): v is string => typeof v === 'string')) : null;
      const hint = suggestion === null ? '' : ` (did you mean "${suggestion}"?)`;
      return { path, at: positions.field(path), message: `must be one of ${names.join(', ')}, got ${describeValue(value)}${hint}` };
    }
    case 'const':
      return { path, at: positions.field(path), message: `must be ${JSON.stringify(params.allowedValue)}, got ${describeValue(value)}` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, at: positions.field(path), message: `must be ${String(params.comparison)} ${String(params.limit)}, got ${describeValue(value)}` };
    case 'minLength':
      return { path, at: positions.field(path), message: params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long` };
    case 'maxLength':
      return { path, at: positions.field(path), message: `must be at most ${String(params.limit)} characters long` };
    case 'minItems': {
      const hint = path[path.length - 1] === 'hosts' ? ' (omit "hosts" for the default site)' : '';
      return { path, at: positions.field(path), message: params.limit === 1 ? `must not be empty${hint}` : `must have at least ${String(params.limit)} items` };
    }
    case 'maxItems':
      return { path, at: positions.field(path), message: `must have at most ${String(params.limit)} items` };
    case 'uniqueItems':
      return { path, at: positions.field(path), message: `must not repeat items (items ${String(params.j)} and ${String(params.i)} are the same)` };
    case 'pattern':
      return { path, at: positions.field(path), message: `must match /${String(params.pattern)}/, got ${describeValue(value)}` };
    case 'oneOf':
    case 'anyOf':
      return { path, at: positions.field(path), message: combinatorMessage(error, value) };
    case KIND_KEYWORD:
      return { path, at: positions.field(path), message: error.message ?? 'is invalid' };
    default:
      return { path, at: positions.field(path), message: error.message ?? `fails the "${error.keyword}" rule` };
  }
}

export function unknownField(key: string, known: readonly string[]): string {
  const suggestion = closestName(key, known);
  if (suggestion !== null) return `unknown field "${key}" (did you mean "${suggestion}"?)`;
  if (known.length > 0 && known.length <= 12) return `unknown field "${key}" (known fields: ${known.join(', ')})`;
  return `unknown field "${key}"`;
}

/** sites[i].routes[j]: its unknown keys are most often a misspelt or missing handler module. */
function isRoute(path: readonly PathSegment[]): boolean {
  return path.length === 4 && path[0] === 'sites' && path[2] === 'routes';
}

function unknownRouteField(key: string, known: readonly string[]): string {
  const suggestion = closestName(key, known);
  if (suggestion !== null) return `unknown field "${key}" (did you mean "${suggestion}"?)`;
  const handlers = known.filter((k) => !ROUTE_KEYS.includes(k));
  return `unknown field "${key}": a route has "path", "methods" and one handler (${handlers.join(', ')})`;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  null: 'null',
};

function typeNames(type: unknown): string {
  const types = Array.isArray(type) ? type.map(String) : String(type).split(',');
  return types.map((t) => TYPE_NAMES[t] ?? t).join(' or ');
}

/** "must be a string or a list" from the branches of a oneOf/anyOf, when they are simple enough. */
function combinatorMessage(error: ErrorObject, value: unknown): string {
  const params = error.params as Record<string, unknown>;
  if (Array.isArray(params.passingSchemas)) return 'matches more than one of the allowed forms';
  const branches = error.schema;
  const forms: string[] = [];
  if (Array.isArray(branches)) {
    for (const branch of branches as Array<Record<string, unknown>>) {
      if (branch !== null && typeof branch === 'object' && 'const' in branch) forms.push(JSON.stringify(branch.const));
      else if (branch !== null && typeof branch === 'object' && Array.isArray(branch.enum)) forms.push(...branch.enum.map((v) => JSON.stringify(v)));
      else if (branch !== null && typeof branch === 'object' && branch.type !== undefined) forms.push(typeNames(branch.type));
      else return `does not match any of the allowed forms, got ${describeValue(value)}`;
    }
  }
  const unique = [...new Set(forms)];
  if (unique.length === 0) return `does not match any of the allowed forms, got ${describeValue(value)}`;
  return `must be ${unique.join(' or ')}, got ${describeValue(value)}`;
}

/** JSON pointer to path segments; list indexes become numbers (they are, in the data). */
export function toSegments(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const segments: PathSegment[] = [];
  let current: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current)) {
      const index = Number(key);
      segments.push(index);
      current = current[index];
    } else {
      segments.push(key);
      current = current !== null && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined;
    }
  }
  return segments;
}

/** "sites[0].routes[1].static.root" */
export function fieldName(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}
