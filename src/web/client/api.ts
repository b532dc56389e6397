/**
 * The dashboard's only way to the server: the API, with the token the user pasted (kept in
 * sessionStorage, or localStorage when asked to remember it) sent as the Bearer header. A job's
 * events come through fetch streaming, since EventSource cannot send a header.
 */
const KEY = 'brankas.token';

export function getToken(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

export function setToken(token: string, remember: boolean): void {
  sessionStorage.setItem(KEY, token);
  if (remember) localStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

/** An error the API answered with: its status, registry code, message and details. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

function headers(body: boolean): Record<string, string> {
  const h: Record<string, string> = { authorization: `Bearer ${getToken() ?? ''}` };
  if (body) h['content-type'] = 'application/json';
  return h;
}

export async function api<T>(path: string, method = 'GET', body?: unknown): Promise<T> {
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers: headers(body !== undefined),
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const parsed = text === '' ? null : (JSON.parse(text) as unknown);
  if (!res.ok) {
    const e = (parsed as { error?: { code: string; message: string; details: object } } | null)
      ?.error;
    throw new ApiFailure(
      res.status,
      e?.code ?? 'HTTP_' + res.status,
      e?.message ?? res.statusText,
      (e?.details ?? {}) as Record<string, unknown>,
    );
  }
  return parsed as T;
}

/** Follows a job's Server-Sent Events until the stream ends (the job ended) or `signal` aborts. */
export async function followJob(
  id: string,
  onEvent: (type: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(`/api/v1/jobs/${id}/events`, { headers: headers(false), signal });
  if (!res.ok || !res.body)
    throw new ApiFailure(res.status, 'HTTP_' + res.status, res.statusText, {});
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      onEvent(type, data === '' ? null : JSON.parse(data));
    }
  }
}
