/**
 * Warnings of the repository: conditions a user should know about that do not
 * stop the work (reading without a lock, an unauthenticated repository). The
 * repository reports them through OpenOptions.onWarning; faces word them by code.
 */

export type RepoWarningCode = 'REPO_READ_WITHOUT_LOCK' | 'REPO_UNAUTHENTICATED';

export interface RepoWarning {
  code: RepoWarningCode;
  /** English, for logs; faces translate by code and details. */
  message: string;
  details: Record<string, string>;
}
