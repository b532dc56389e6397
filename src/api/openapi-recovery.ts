/**
 * The files and instant recovery part of the OpenAPI document (routes-files.ts,
 * routes-runs.ts), kept beside its routes and joined into openapi.ts.
 */
const error = { $ref: '#/components/responses/Error' };
const json = (description: string, schema: object = { type: 'object' }) => ({
  description,
  content: { 'application/json': { schema } },
});
const job = json('The job, queued', { $ref: '#/components/schemas/Job' });
const backupParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$' },
};
const vmParam = {
  name: 'vm',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.+:-]{0,127}$' },
};
const diskParam = {
  name: 'disk',
  in: 'query',
  required: false,
  description: "the disk's target (default: the backup's first disk)",
  schema: { type: 'string', pattern: '^[a-z][a-z0-9]{0,31}$' },
};
const body = (properties: object, required: string[] = []) => ({
  required: required.length > 0,
  content: {
    'application/json': {
      schema: { type: 'object', additionalProperties: false, required, properties },
    },
  },
});

export const RECOVERY_PATHS = {
  '/api/v1/backups/{id}/files': {
    get: {
      summary: "A directory of a backup's disk (brankas files ls)",
      parameters: [
        backupParam,
        { name: 'path', in: 'query', required: false, schema: { type: 'string' } },
        diskParam,
      ],
      responses: { 200: json('The listing'), 400: error, 404: error, default: error },
    },
  },
  '/api/v1/backups/{id}/files/download': {
    get: {
      summary: 'One file as it is, or a tar archive of paths of one volume, streamed',
      parameters: [
        backupParam,
        {
          name: 'path',
          in: 'query',
          required: true,
          description: 'repeated for several paths (then a tar)',
          schema: { type: 'array', items: { type: 'string' } },
          style: 'form',
          explode: true,
        },
        {
          name: 'format',
          in: 'query',
          required: false,
          description: 'file (one path, the default for one) or tar',
          schema: { type: 'string', enum: ['file', 'tar'] },
        },
        diskParam,
      ],
      responses: {
        200: {
          description: 'The bytes, with their name in Content-Disposition',
          content: {
            'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
            'application/x-tar': { schema: { type: 'string', format: 'binary' } },
          },
        },
        400: error,
        404: error,
        default: error,
      },
    },
  },
  '/api/v1/backups/{id}/run': {
    post: {
      summary: 'Run a VM straight from the backup (instant recovery), as a job on the new VM',
      parameters: [backupParam],
      requestBody: body(
        {
          as: { type: 'string' },
          start: { type: 'boolean' },
          allowHostAccess: { type: 'boolean' },
          skipDamaged: { type: 'boolean' },
          dryRun: { type: 'boolean' },
          wait: { type: 'boolean' },
        },
        ['as'],
      ),
      responses: { 200: json('The plan (dryRun)'), 202: job, 400: error, default: error },
    },
  },
  '/api/v1/runs': {
    get: {
      summary: 'The VMs run from a backup, with their states',
      responses: { 200: json('The runs'), 404: error, default: error },
    },
  },
  '/api/v1/runs/{vm}/stop': {
    post: {
      summary: 'Stop serving a run (refused while the VM reads from it, unless force and confirm)',
      parameters: [vmParam],
      requestBody: body({
        force: { type: 'boolean' },
        confirm: { type: 'boolean' },
        dryRun: { type: 'boolean' },
      }),
      responses: {
        200: json('Stopped, or the plan (dryRun)'),
        400: error,
        404: error,
        409: error,
        default: error,
      },
    },
  },
  '/api/v1/runs/{vm}/persist': {
    post: {
      summary: 'Move a run onto local disks while it runs, as a job on the VM',
      parameters: [vmParam],
      requestBody: body({ wait: { type: 'boolean' } }),
      responses: { 202: job, 404: error, 409: error, default: error },
    },
  },
} as const;
