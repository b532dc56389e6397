/**
 * The HTTP API face (`brankas serve`): the app (routes, auth, errors as statuses), its OpenAPI
 * description, and the server that puts it on a socket.
 */
export { createApi, type ApiApp, type ApiDeps } from './app.js';
export type { RunDeps, RunStartRequest } from './routes-runs.js';
export { loadOrCreateToken, TOKEN_FILE, LOOPBACK_HOSTS } from './auth.js';
export { ApiError, errorBody, statusOf, type ApiErrorCode } from './errors.js';
export { OPENAPI } from './openapi.js';
export {
  isLoopback,
  parseListen,
  startServer,
  type Listen,
  type RunningServer,
  type Tls,
} from './server.js';
