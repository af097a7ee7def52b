// The error kinds of the file readers. Every problem found in a file's bytes is a FormatError whose
// message names the file, the field and the problem; a file that is well formed but larger than a
// stated limit is a LimitError, whose message also says which limit to raise. Callers that want to
// tell a bad file from a bug test `instanceof FormatError` (nothing else escapes a reader on bad
// input: no TypeError, RangeError or SyntaxError).

/** The bytes of a file are not what its format allows (truncated, corrupt, inconsistent). */
export class FormatError extends Error {
  override name = 'FormatError';
}

/** A count, size or depth in a file exceeds a limit (./limits.ts); the message names the limit. */
export class LimitError extends FormatError {
  override name = 'LimitError';
}
