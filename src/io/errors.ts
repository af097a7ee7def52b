// The error kinds of the library. Every problem found in a file's bytes is a FormatError whose
// message names the file, the field and the problem; a file that is well formed but larger than a
// stated limit is a LimitError, whose message also says which limit to raise. Callers that want to
// tell a bad file from a bug test `instanceof FormatError` (nothing else escapes a reader on bad
// input: no TypeError, RangeError or SyntaxError).
//
// Options in messages: an error whose remedy is an option of the call names it as the caller wrote
// it (`lower microBatch`, `setReadLimits({ maxImagePixels: N })`), and lists it in `option`, so that
// a caller can react to it. The message is written once, as an OptionText; `messageWith` renders it
// with other names (the `resnet` command names its flags: cli/option-flags.ts).

/** How a message names what the caller can change. */
export interface OptionNames {
  /** An option of the call, alone or with the value to give it: `batchSize`, `lightingStd: 0`. */
  option(name: string, value?: string): string;
  /** A read limit to raise (./limits.ts), by its name in ReadLimits. */
  readLimit(name: string): string;
  /** A function of the library to call, with its argument: `downloadCifar10('data/cifar10')`. */
  call(fn: string, arg: string): string;
}

/** The library's names: the options as a caller passes them. */
export const LIBRARY_NAMES: OptionNames = {
  option: (name, value) => (value === undefined ? name : `${name}: ${value}`),
  readLimit: (name) => `setReadLimits({ ${name}: N })`,
  call: (fn, arg) => `${fn}('${arg}')`,
};

/** A message that names options, written once for any names. */
export type OptionText = (names: OptionNames) => string;

/**
 * The base of the library's own errors. `option` lists the options of the call (and read limits)
 * that the message names as the remedy, in its order; empty when it names none.
 */
export class LibraryError extends Error {
  readonly option: readonly string[];
  readonly #text: OptionText;

  constructor(text: string | OptionText, options?: ErrorOptions) {
    const write = typeof text === 'string' ? () => text : text;
    const option: string[] = [];
    const note = (name: string) => void (option.includes(name) || option.push(name));
    super(write({
      option: (name, value) => (note(name), LIBRARY_NAMES.option(name, value)),
      readLimit: (name) => (note(name), LIBRARY_NAMES.readLimit(name)),
      call: LIBRARY_NAMES.call,
    }), options);
    this.option = option;
    this.#text = write;
  }

  /** The message with the options named by `names` (`message` is the library's). */
  messageWith(names: OptionNames): string {
    return this.#text(names);
  }
}

/** The bytes of a file are not what its format allows (truncated, corrupt, inconsistent). */
export class FormatError extends LibraryError {
  override name = 'FormatError';
}

/** A count, size or depth in a file exceeds a limit (./limits.ts); the message names the limit, `option` too. */
export class LimitError extends FormatError {
  override name = 'LimitError';
}
