/**
 * The one error base class of brankas. Every error a library layer throws is a
 * BrankasError (or a subclass) with a stable string `code`, so the faces
 * (CLI, API) can turn it into an exit code or HTTP status in one place and a
 * user never sees a stack trace for a mistake of theirs.
 */

export interface BrankasErrorOptions {
  cause?: unknown;
  /** Extra facts for renderers (JSON output), never needed to understand the message. */
  details?: Record<string, unknown>;
}

export class BrankasError extends Error {
  override readonly name: string = 'BrankasError';
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: BrankasErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function isBrankasError(err: unknown): err is BrankasError {
  return err instanceof BrankasError;
}

/** The `code` of any error, or undefined for foreign errors without one. */
export function errorCode(err: unknown): string | undefined {
  if (err instanceof BrankasError) return err.code;
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
