/*
 * Trust: every portal route is behind the permission framework, reads
 * included. Under a policy that denies everything, each operation of the
 * OpenAPI document answers 403 to a signed-in user and to a backend
 * service; the agent API answers 401 without agent credentials. Requests
 * are valid against the document (built from its schemas) so that the
 * answer is the authorization's, not the validator's.
 *
 * Exemptions, explicitly: GET /health (open, no data but the migration
 * count) and the agent API (its own credentials; no portal permission).
 */
import { mockCredentials, TestDatabases } from '@backstage/backend-test-utils';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { spec } from '../schema/openapi.generated';
import { startHarness } from '../approvals/__testUtils__/harness';
import { entities, users } from './__testUtils__/world';

jest.setTimeout(180_000);

const EXEMPT = new Set(['GET /health']);
const doc = spec as any;

function resolve(schema: any): any {
  if (schema?.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return resolve(doc.components.schemas[name]);
  }
  return schema ?? {};
}

/** A minimal value valid against a schema: required fields only. */
function sample(schema0: any): any {
  const schema = resolve(schema0);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map(sample));
  if (schema.oneOf || schema.anyOf)
    return sample((schema.oneOf ?? schema.anyOf)[0]);
  if (schema.enum) return schema.enum[0];
  if (schema.const !== undefined) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) {
        out[key] = sample(schema.properties?.[key]);
      }
      return out;
    }
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () =>
        sample(schema.items),
      );
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    case 'string':
      if (schema.format === 'date-time')
        return new Date(Date.now() + 86400000).toISOString();
      if (schema.pattern === '^[0-9]+$') return '1';
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    default:
      return {};
  }
}

interface Operation {
  method: string;
  path: string;
  url: string;
  body?: unknown;
}

function operations(): Operation[] {
  const ops: Operation[] = [];
  for (const [p, item] of Object.entries<any>(doc.paths)) {
    for (const method of ['get', 'post', 'put', 'delete', 'patch']) {
      const op = item[method];
      if (!op) continue;
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      let url = p;
      const query = new URLSearchParams();
      for (const param of params) {
        const value = String(sample(param.schema));
        if (param.in === 'path') url = url.replace(`{${param.name}}`, value);
        if (param.in === 'query' && param.required)
          query.set(param.name, value);
      }
      const content = op.requestBody?.content ?? {};
      const json = content['application/json']?.schema;
      ops.push({
        method,
        path: p,
        url: `/api/patch${url}${query.size ? `?${query}` : ''}`,
        body: json ? sample(json) : undefined,
      });
    }
  }
  return ops;
}

function send(server: any, op: Operation, auth?: string) {
  let r = (request(server) as any)[op.method](op.url);
  if (auth) r = r.set('Authorization', auth);
  return op.body === undefined ? r : r.send(op.body);
}

describe('every route behind the permission framework', () => {
  const databases = TestDatabases.create();

  it('enumerates every operation of openapi.yaml', () => {
    // The generated document is the YAML (openapi.mjs --check keeps them
    // equal); count the YAML's own operation ids to be sure none is missed.
    const yaml = fs.readFileSync(
      path.join(__dirname, '../schema/openapi.yaml'),
      'utf8',
    );
    const ids = yaml.match(/^\s+operationId:\s*\S+/gm) ?? [];
    expect(operations()).toHaveLength(ids.length);
    expect(ids.length).toBeGreaterThan(40);
  });

  it.each(databases.eachSupportedId())(
    'denies each portal operation (403) under a deny-all policy, and the agent API without agent credentials (401), on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities,
        users,
        denyAll: true,
      });
      const seen: string[] = [];
      const wrong: string[] = [];
      for (const op of operations()) {
        const name = `${op.method.toUpperCase()} ${op.path}`;
        seen.push(name);
        if (EXEMPT.has(name)) {
          const res = await send(h.server, op);
          if (res.status !== 200) wrong.push(`${name}: ${res.status}`);
          continue;
        }
        if (op.path.startsWith('/agent/v1/')) {
          for (const auth of [
            undefined,
            mockCredentials.user.header('user:default/alice'),
            mockCredentials.service.header(),
          ]) {
            const res = await send(h.server, op, auth);
            if (res.status !== 401)
              wrong.push(`${name} (${auth ?? 'none'}): ${res.status}`);
          }
          continue;
        }
        for (const auth of [
          mockCredentials.user.header('user:default/olga'),
          mockCredentials.service.header(),
        ]) {
          const res = await send(h.server, op, auth);
          if (res.status !== 403)
            wrong.push(
              `${name} as ${auth}: ${res.status} ${JSON.stringify(
                res.body,
              ).slice(0, 200)}`,
            );
        }
        // No credentials at all (the mock backend's stand-in for a missing token).
        const anonymous = await send(
          h.server,
          op,
          mockCredentials.none.header(),
        );
        if (anonymous.status !== 401)
          wrong.push(`${name} without credentials: ${anonymous.status}`);
      }
      expect(wrong).toEqual([]);
      expect(seen.length).toBeGreaterThan(40);
    },
  );
});
