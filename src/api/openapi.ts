/**
 * The OpenAPI 3 description of the API, written by hand beside the routes; a test holds it to
 * them (every route the app serves is described here, and nothing else).
 */
import { SCHEDULE_PATHS } from './openapi-schedules.js';
import { RECOVERY_PATHS } from './openapi-recovery.js';

const error = { $ref: '#/components/responses/Error' };
const vmParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const jobParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
};
const vmQuery = { name: 'vm', in: 'query', required: false, schema: { type: 'string' } };
const ok = (description: string, schema: object = { type: 'object' }) => ({
  description,
  content: { 'application/json': { schema } },
});
const job = { $ref: '#/components/schemas/Job' };
const snapParam = { name: 'snapshot', in: 'path', required: true, schema: { type: 'string' } };
const backupParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const body = (properties: object) => ({
  required: false,
  content: {
    'application/json': { schema: { type: 'object', additionalProperties: false, properties } },
  },
});
const bool = (description: string) => ({ type: 'boolean', description });
const wait = bool('Wait in line when the VM is busy (else 409)');
/** The fields of every destructive call: without either, 400 API_CONFIRM_REQUIRED. */
const destructive = {
  confirm: bool('Do it (as the CLI needs --yes)'),
  dryRun: bool('Return the plan (what would change or be lost) and change nothing'),
};
const planOrJob = {
  200: ok('The plan (dryRun)'),
  202: ok('The job, queued', job),
  400: error,
  404: error,
  409: error,
  default: error,
};
const keep = (unit: string) => ({ type: 'integer', minimum: 0, description: `Keep ${unit}` });

export const OPENAPI = {
  openapi: '3.0.3',
  info: {
    title: 'brankas',
    version: '1',
    description:
      'Backups of libvirt/KVM VMs. Every call needs the header "Authorization: Bearer TOKEN" ' +
      '(brankas serve --print-token). Errors are {"error": {"code", "message", "details"}}.',
  },
  security: [{ bearer: [] }],
  paths: {
    ...SCHEDULE_PATHS,
    ...RECOVERY_PATHS,
    '/api/v1/openapi.json': {
      get: { summary: 'This document', responses: { 200: ok('OpenAPI 3') } },
    },
    '/api/v1/host': {
      get: {
        summary: 'The hypervisor and libvirt',
        responses: { 200: ok('The host'), default: error },
      },
    },
    '/api/v1/vms': {
      get: {
        summary:
          'Every VM: power state, disks, snapshot count, last backup, and its schedule (null: no policy)',
        responses: { 200: ok('The VMs'), default: error },
      },
    },
    '/api/v1/vms/{name}': {
      get: {
        summary: 'One VM',
        parameters: [vmParam],
        responses: { 200: ok('The VM'), 404: error, default: error },
      },
    },
    '/api/v1/vms/{name}/backup': {
      post: {
        summary: 'Start a backup of the VM (a job): live, cold, or auto (live when it runs)',
        parameters: [vmParam],
        requestBody: {
          required: false,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  wait: {
                    type: 'boolean',
                    description: 'Wait in line when the VM is busy (else 409)',
                  },
                  mode: {
                    type: 'string',
                    enum: ['auto', 'live', 'cold'],
                    default: 'auto',
                    description: 'auto: live when the VM is running or paused, cold when shut off',
                  },
                  shutdownTimeoutSeconds: {
                    type: 'integer',
                    minimum: 1,
                    maximum: 3600,
                    default: 120,
                  },
                  forceOffAfterTimeout: { type: 'boolean' },
                  reread: { type: 'boolean' },
                  consistency: {
                    type: 'string',
                    enum: ['auto', 'application', 'shutdown'],
                    default: 'auto',
                    description:
                      'auto: application-consistent when the guest agent freezes, else crash-consistent; application: fail rather than crash-consistent; shutdown: a running VM shut down for the point and started again at once (not with mode cold)',
                  },
                  freezeTimeoutSeconds: {
                    type: 'integer',
                    minimum: 1,
                    maximum: 600,
                    default: 10,
                    description:
                      'How long the guest agent gets to answer the freeze (and each thaw) before the backup goes on crash-consistent',
                  },
                },
              },
            },
          },
        },
        responses: { 202: ok('The job, queued', job), 409: error, default: error },
      },
    },
    '/api/v1/vms/{name}/snapshots': {
      get: {
        summary: "The VM's snapshots as a tree (depth, children, current) and chain warnings",
        parameters: [vmParam],
        responses: { 200: ok('The snapshots'), 404: error, default: error },
      },
      post: {
        summary: 'Take a snapshot (a job)',
        parameters: [vmParam],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                required: ['name'],
                properties: { name: { type: 'string' }, description: { type: 'string' }, wait },
              },
            },
          },
        },
        responses: { 202: ok('The job, queued', job), 400: error, 409: error, default: error },
      },
    },
    '/api/v1/vms/{name}/snapshots/{snapshot}/revert': {
      post: {
        summary:
          'Revert to the snapshot (a job): every change since it is lost. dryRun returns what is lost',
        parameters: [vmParam, snapParam],
        requestBody: body({
          ...destructive,
          safetySnapshot: bool('Take a snapshot of the present state first'),
          wait,
        }),
        responses: planOrJob,
      },
    },
    '/api/v1/vms/{name}/snapshots/{snapshot}': {
      delete: {
        summary: 'Delete the snapshot (a job); with children, its descendants too',
        parameters: [vmParam, snapParam],
        requestBody: body({ ...destructive, children: bool('Delete its children too'), wait }),
        responses: planOrJob,
      },
    },
    '/api/v1/backups/{id}': {
      get: {
        summary:
          'A backup in full: its manifest and whether its signature was verified (as brankas repo info BACKUP)',
        parameters: [backupParam],
        responses: { 200: ok('The backup'), 404: error, default: error },
      },
    },
    '/api/v1/backups/{id}/verify': {
      post: {
        summary:
          'Restore test (a job): read every chunk back; with boot, restore an isolated copy and boot it. Recorded in the backup',
        parameters: [backupParam],
        requestBody: body({
          boot: bool('Restore and boot an isolated copy'),
          bootTimeoutSeconds: { type: 'integer', minimum: 10, maximum: 3600, default: 300 },
          wait,
        }),
        responses: { 202: ok('The job, queued', job), 404: error, 409: error, default: error },
      },
    },
    '/api/v1/backups/{id}/restore': {
      post: {
        summary:
          'Restore the backup (a job): as a new VM (as), or over the VM (force, which needs confirm)',
        parameters: [backupParam],
        requestBody: body({
          as: { type: 'string', description: 'A new name: a copy beside the original' },
          start: bool('Start the VM once defined'),
          force: bool('Replace the VM and its files (needs confirm)'),
          ...destructive,
          wait,
        }),
        responses: planOrJob,
      },
    },
    '/api/v1/repo': {
      get: {
        summary:
          'The repository as brankas repo info shows it (location, format, keys, backups, damaged manifests), with its figures (logical, stored, deduplication and compression ratios), growth per backup and free space',
        responses: { 200: ok('Info, stats and growth'), default: error },
      },
    },
    '/api/v1/repo/space': {
      get: {
        summary:
          "Free space of a local repository's file system and whether it is nearly full (null for object stores)",
        responses: { 200: ok('The space'), default: error },
      },
    },
    '/api/v1/repo/verify': {
      post: {
        summary:
          'Check the repository: its structure, or every byte (readData); a job on the repository (its result is the report)',
        requestBody: body({ readData: bool('Read and re-hash every record') }),
        responses: { 202: ok('The job, queued', job), default: error },
      },
    },
    '/api/v1/repo/prune': {
      post: {
        summary:
          'Forget backups by a keep policy (per VM), then collect garbage: the plan (dryRun), or a job on the repository (confirm)',
        requestBody: body({
          ...destructive,
          keepLast: keep('the newest N'),
          keepHourly: keep('the newest of N hours'),
          keepDaily: keep('the newest of N days'),
          keepWeekly: keep('the newest of N weeks'),
          keepMonthly: keep('the newest of N months'),
          keepYearly: keep('the newest of N years'),
        }),
        responses: {
          200: ok('What would be forgotten and collected (dryRun)'),
          202: ok('The job, queued (confirm); its result is what was done', job),
          400: error,
          default: error,
        },
      },
    },
    '/api/v1/repo/gc': {
      post: {
        summary:
          'Delete data no backup refers to: the plan (dryRun), or a job on the repository (confirm)',
        requestBody: body(destructive),
        responses: {
          200: ok('What would be deleted (dryRun)'),
          202: ok('The job, queued (confirm)', job),
          400: error,
          default: error,
        },
      },
    },
    '/api/v1/backups': {
      get: {
        summary: 'Backups in the repository (all, or of one VM)',
        parameters: [vmQuery],
        responses: { 200: ok('Backups and damaged ones'), default: error },
      },
    },
    '/api/v1/jobs': {
      get: {
        summary: 'Job history, newest first',
        parameters: [
          vmQuery,
          {
            name: 'limit',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        ],
        responses: { 200: ok('The jobs'), default: error },
      },
    },
    '/api/v1/jobs/{id}': {
      get: {
        summary: 'One job',
        parameters: [jobParam],
        responses: { 200: ok('The job', job), 404: error },
      },
    },
    '/api/v1/jobs/{id}/events': {
      get: {
        summary: "The job's events: state, progress, note (Server-Sent Events) until it ends",
        parameters: [jobParam],
        responses: {
          200: {
            description: 'An event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          404: error,
        },
      },
    },
    '/api/v1/jobs/{id}/log': {
      get: {
        summary:
          "The job's log as kept in the history: its changes of state and notes ({at, type, data}), the newest 200, also after it ended",
        parameters: [jobParam],
        responses: { 200: ok('The log'), 404: error, default: error },
      },
    },
    '/api/v1/jobs/{id}/cancel': {
      post: {
        summary: 'Cancel the job (a running one puts its VM back)',
        parameters: [jobParam],
        responses: { 200: ok('The job', job), 404: error },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    responses: {
      Error: {
        description: 'An error',
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: {
                error: {
                  type: 'object',
                  properties: {
                    code: { type: 'string' },
                    message: { type: 'string' },
                    details: { type: 'object' },
                  },
                },
              },
            },
          },
        },
      },
    },
    schemas: {
      Job: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          vm: { type: 'string', nullable: true, description: 'null: a job on the repository' },
          kind: {
            type: 'string',
            enum: ['backup', 'restore', 'verify', 'snapshot', 'repo-verify', 'prune', 'gc'],
          },
          state: {
            type: 'string',
            enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'],
          },
          createdAt: { type: 'string', format: 'date-time' },
          startedAt: { type: 'string', format: 'date-time', nullable: true },
          endedAt: { type: 'string', format: 'date-time', nullable: true },
          result: { type: 'object', nullable: true },
          error: { type: 'object', nullable: true },
        },
      },
    },
  },
} as const;
