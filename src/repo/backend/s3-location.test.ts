import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isS3Location, parseS3Location } from './s3-location.js';

it('s3: locations give the endpoint, bucket and prefix, https when no scheme is given', () => {
  assert.deepEqual(parseS3Location('s3:http://127.0.0.1:9000/backups'), {
    endpoint: 'http://127.0.0.1:9000',
    bucket: 'backups',
    prefix: '',
  });
  assert.deepEqual(parseS3Location('s3:https://rgw.lan/backups/kvm1/repo/'), {
    endpoint: 'https://rgw.lan',
    bucket: 'backups',
    prefix: 'kvm1/repo/',
  });
  assert.deepEqual(parseS3Location('s3:s3.eu-central-1.amazonaws.com/my-bucket'), {
    endpoint: 'https://s3.eu-central-1.amazonaws.com',
    bucket: 'my-bucket',
    prefix: '',
  });
  assert.equal(isS3Location('/var/lib/brankas/repo'), false);
  assert.equal(isS3Location('s3:http://h/b'), true);
});

it('s3: locations without a bucket, with credentials, odd bucket names or prefixes are refused', () => {
  for (const bad of [
    's3:http://127.0.0.1:9000',
    's3:http://127.0.0.1:9000/',
    's3:http://user:pw@127.0.0.1/bucket',
    's3:http://127.0.0.1/Bad_Bucket',
    's3:http://127.0.0.1/bucket/sp%20ace',
    's3:http://127.0.0.1/bucket?x=1',
    's3:http://[::1/bucket',
  ]) {
    assert.throws(() => parseS3Location(bad), { code: 'REPO_INVALID_ARGUMENT' }, bad);
  }
});
