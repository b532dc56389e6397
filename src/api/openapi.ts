/**
 * The OpenAPI 3 description of the API, written by hand beside the routes; a test holds it to
 * them (every route the app serves is described here, and nothing else).
 */
import { SCHEDULE_PATHS } from './openapi-schedules.js';

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
        summary: 'Every VM: power state, disks, snapshot count, last backup',
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
        summary: 'Start a cold backup of the VM (a job)',
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
                  shutdownTimeoutSeconds: {
                    type: 'integer',
                    minimum: 1,
                    maximum: 3600,
                    default: 120,
                  },
                  forceOffAfterTimeout: { type: 'boolean' },
                  reread: { type: 'boolean' },
                },
              },
            },
          },
        },
        responses: { 202: ok('The job, queued', job), 409: error, default: error },
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
          vm: { type: 'string' },
          kind: { type: 'string', enum: ['backup', 'restore', 'verify', 'snapshot'] },
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
