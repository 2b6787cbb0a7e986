import { AnomalyError, type ErrorCode } from '../core/errors.js';

/** One problem in a config file. line/column are 1-based; 0 when the problem has no position (read errors). */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Dotted path of the field, e.g. "sites[0].routes[1].static.root"; "" for the whole file. */
  readonly field: string;
  readonly message: string;
}

/** "file:line:column: field: message", the one-line form used by errors and `anomaly check`. */
export function formatProblem(problem: ConfigProblem): string {
  const where = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.column}` : problem.file;
  return problem.field === '' ? `${where}: ${problem.message}` : `${where}: ${problem.field}: ${problem.message}`;
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map(formatProblem).join('\n');
}

/** A config that cannot be used; `message` holds one line per problem. */
export class ConfigError extends AnomalyError {
  readonly problems: readonly ConfigProblem[];

  constructor(code: ErrorCode, problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super(code, formatProblems(problems), options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
