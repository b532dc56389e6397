/** JSON responses of engine values (bigints as decimal strings, as the job history keeps them). */
import { jsonText } from '../service/index.js';

export function json(value: unknown, status = 200): Response {
  return new Response(jsonText(value), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}
