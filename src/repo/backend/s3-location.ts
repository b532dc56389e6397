/**
 * The form of an S3 repository's location, restic's: `s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]`
 * (a location without a scheme, `s3:HOST/BUCKET`, is https). Parsed here, apart from the
 * backend, so the CLI can tell an S3 location from a path without loading the AWS SDK.
 */
import { RepoError } from '../errors.js';

export interface S3Location {
  /** The server's URL: scheme, host and port, no path. */
  endpoint: string;
  bucket: string;
  /** Where the repository's objects start inside the bucket: '' or 'some/path/' (with '/'). */
  prefix: string;
}

export function isS3Location(location: string): boolean {
  return location.startsWith('s3:');
}

export function parseS3Location(location: string): S3Location {
  const bad = (why: string): RepoError =>
    new RepoError(
      'REPO_INVALID_ARGUMENT',
      `${location} is not an S3 location (${why}); the form is s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]`,
    );
  if (!isS3Location(location)) throw bad('it does not start with s3:');
  let rest = location.slice('s3:'.length);
  if (!/^https?:\/\//.test(rest)) rest = `https://${rest}`;
  let url: URL;
  try {
    url = new URL(rest);
  } catch {
    throw bad('not a URL');
  }
  if (url.username || url.password || url.search || url.hash) {
    throw bad('credentials, queries and fragments do not belong in it');
  }
  const parts = url.pathname.split('/').filter((p) => p !== '');
  const bucket = parts.shift();
  if (bucket === undefined) throw bad('no bucket');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw bad(`bad bucket name ${bucket}`);
  // The prefix's segments obey the rules of object names (types.ts), so keys stay plain.
  for (const p of parts)
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(p)) throw bad(`bad prefix ${p}`);
  return {
    endpoint: `${url.protocol}//${url.host}`,
    bucket,
    prefix: parts.length > 0 ? `${parts.join('/')}/` : '',
  };
}
