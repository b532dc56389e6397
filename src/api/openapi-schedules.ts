/**
 * The schedules' part of the OpenAPI document (routes-schedules.ts, docs/schedule-format.md),
 * kept beside its routes and joined into openapi.ts.
 */
const error = { $ref: '#/components/responses/Error' };
const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' },
};
const json = (description: string, schema: object = { type: 'object' }) => ({
  description,
  content: { 'application/json': { schema } },
});
const count = { type: 'integer', minimum: 0, maximum: 100000 };

export const POLICY_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    vms: { type: 'array', items: { type: 'string' } },
    when: { type: 'string', description: 'cron, five fields' },
    mode: { type: 'string', enum: ['auto', 'live', 'cold'] },
    consistency: { type: 'string', enum: ['auto', 'application', 'shutdown'] },
    freezeTimeoutSeconds: { type: 'integer', nullable: true },
    keep: { type: 'object', additionalProperties: { type: 'integer' } },
    restoreTestDays: { type: 'integer', nullable: true },
    timezone: { type: 'string', nullable: true },
    lastRun: { type: 'string', format: 'date-time', nullable: true },
    nextRun: { type: 'string', format: 'date-time', nullable: true },
  },
} as const;

export const SCHEDULE_PATHS = {
  '/api/v1/schedules': {
    get: {
      summary: 'The schedule policies with their next runs',
      responses: { 200: json('The file and its policies'), default: error },
    },
    post: {
      summary: 'Add a policy to the schedule file (validated, written atomically)',
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'vms', 'when'],
              properties: {
                id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' },
                vms: {
                  description: 'VM names or patterns (* and ?), a list or separated by spaces',
                  oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
                },
                when: { type: 'string', description: 'cron expression, five fields' },
                mode: { type: 'string', enum: ['auto', 'live', 'cold'] },
                consistency: {
                  type: 'string',
                  enum: ['auto', 'application', 'shutdown'],
                  description: "as a backup's consistency; shutdown not with mode cold",
                },
                'freeze-timeout-seconds': { type: 'integer', minimum: 1, maximum: 600 },
                'keep-last': count,
                'keep-hourly': count,
                'keep-daily': count,
                'keep-weekly': count,
                'keep-monthly': count,
                'keep-yearly': count,
                'restore-test-days': { type: 'integer', minimum: 1, maximum: 3650 },
                timezone: { type: 'string' },
              },
            },
          },
        },
      },
      responses: {
        201: json('The policy added', POLICY_SCHEMA),
        400: error,
        409: error,
        default: error,
      },
    },
  },
  '/api/v1/schedules/{id}': {
    delete: {
      summary: 'Remove a policy from the schedule file',
      parameters: [idParam],
      responses: { 200: json('The policy removed', POLICY_SCHEMA), 404: error, default: error },
    },
  },
  '/api/v1/schedules/{id}/run': {
    post: {
      summary: 'Run a policy now: a backup job per matching VM (and its restore test when due)',
      parameters: [idParam],
      responses: {
        202: json('The run: the VMs matched and their jobs, queued'),
        404: error,
        default: error,
      },
    },
  },
} as const;
