// Turning the API's error bodies into something a form can show.
// Every error is `{"detail": "message"}`, except 422: `{"detail": [{type, loc, msg}]}`
// where the last element of `loc` names the offending field (src/api/error.rs).

export interface FieldProblem {
  loc: (string | number)[];
  msg: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** A message for the whole form (empty when every problem belongs to a field). */
    readonly detail: string,
    /** Messages by field name. */
    readonly fields: Record<string, string> = {},
    /** Every problem of a 422 as the API listed it (`fields` keeps one per field name). */
    readonly problems: FieldProblem[] = [],
  ) {
    super(detail || Object.values(fields).join('; ') || `HTTP ${status}`);
  }
}

export function errorFromBody(status: number, body: unknown, statusText = ''): ApiError {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === 'string') return new ApiError(status, detail);
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {};
    const loose: string[] = [];
    const problems: FieldProblem[] = [];
    for (const problem of detail as FieldProblem[]) {
      const loc = Array.isArray(problem?.loc) ? problem.loc : [];
      const field = loc.length > 1 ? String(loc[loc.length - 1]) : '';
      const msg = String(problem?.msg ?? '');
      problems.push({ loc, msg });
      if (field && !(field in fields)) fields[field] = msg;
      else if (!field) loose.push(msg);
    }
    return new ApiError(status, loose.join('; '), fields, problems);
  }
  return new ApiError(status, statusText || `HTTP ${status}`);
}

/** Field messages whose field is not on the form, so they are not silently lost. */
export function unplacedFieldMessages(error: ApiError, shownFields: string[]): string[] {
  return Object.entries(error.fields)
    .filter(([field]) => !shownFields.includes(field))
    .map(([field, msg]) => `${field}: ${msg}`);
}

/** The text of anything thrown: an Error's message (an ApiError's is the API's detail). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
