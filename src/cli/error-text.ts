/**
 * An error in the user's language, from the one registry of codes (src/util/error-registry.ts):
 * English from the registry's text, Indonesian from its checked catalogue (errors-id.ts), each
 * filled from the error's details. An error that is not ours (a bug) keeps its own message.
 */
import {
  ERROR_FAMILIES,
  errorTemplate,
  fillTemplate,
  type RegisteredCode,
} from '../util/error-registry.js';
import { BrankasError, errorMessage } from '../util/errors.js';
import { ERRORS_ID, FAMILIES_ID } from './errors-id.js';
import type { Lang } from './i18n.js';

function indonesianTemplate(code: string): string | undefined {
  if (Object.hasOwn(ERRORS_ID, code)) return ERRORS_ID[code as RegisteredCode];
  for (const prefix of Object.keys(ERROR_FAMILIES) as (keyof typeof FAMILIES_ID)[]) {
    if (code.startsWith(prefix)) return FAMILIES_ID[prefix];
  }
  return undefined;
}

/** The one-line text of `err` in `lang`. */
export function errorText(lang: Lang, err: unknown): string {
  if (!(err instanceof BrankasError)) return errorMessage(err);
  const template = lang === 'id' ? indonesianTemplate(err.code) : errorTemplate(err.code);
  const text =
    template === undefined ? undefined : fillTemplate(template, err.details, err.message);
  return text ?? err.message;
}
