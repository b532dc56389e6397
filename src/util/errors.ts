/**
 * The one error base class of brankas. Every error a library layer throws is a
 * BrankasError (or a subclass) with a stable string `code` declared in the one
 * registry (`error-registry.ts`), so the faces (CLI, API) can turn it into an
 * exit code or HTTP status and a message in the user's language in one place,
 * and a user never sees a stack trace for a mistake of theirs.
 *
 * The compiler holds every thrower to the registry: the code must be declared,
 * and `details` must carry each parameter of the code's text.
 */
import type { ErrorCode, ErrorParams } from './error-registry.js';

export type { ErrorCode } from './error-registry.js';

export interface BrankasErrorOptions {
  cause?: unknown;
  /** Extra facts for renderers (JSON output, translations); the code's parameters among them. */
  details?: Record<string, unknown>;
}

/** The options a thrower of `C` passes: `details` is required when C's text has parameters. */
export type ErrorOptionsFor<C extends string> = [ErrorParams<C>] extends [never]
  ? [options?: BrankasErrorOptions]
  : [
      options: BrankasErrorOptions & {
        details: { [K in ErrorParams<C>]: unknown } & Record<string, unknown>;
      },
    ];

export class BrankasError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name: string = 'BrankasError';
  readonly code: C;
  readonly details: Record<string, unknown>;

  constructor(code: C, message: string, ...[options]: ErrorOptionsFor<C>) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details ?? {};
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
