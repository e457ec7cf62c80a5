/* eslint-disable new-cap -- openapi-fetch names its methods GET, POST, … */
/* An endpoint with its inventory, the patches it needs and its jobs. */
import { unwrap } from '@patchbay/plugin-patch-common';
import type { EndpointDetail, NeededPatch } from '../types';
import type { PatchApiCore } from './core';

export async function getEndpoint(
  core: PatchApiCore,
  endpointId: string,
): Promise<EndpointDetail> {
  const c = await core.client.raw();
  const [detail, applicability] = await Promise.all([
    c.GET('/endpoints/{endpointId}', { params: { path: { endpointId } } }),
    c.GET('/applicability', {
      params: { query: { endpointId, state: 'needed' } },
    }),
  ]);
  const e = unwrap(detail.data, detail.error, detail.response);
  const needed: NeededPatch[] = unwrap(
    applicability.data,
    applicability.error,
    applicability.response,
  ).items.map(r => ({
    patchRef: r.patchRef,
    ecosystem: r.ecosystem,
    package: r.package,
    installedVersion: r.installedVersion,
    fixedVersion: r.fixedVersion,
  }));
  // A pending update names the patch that requires its package.
  const patchOf = new Map(
    needed.map(n => [`${n.ecosystem}\u0000${n.package}`, n.patchRef]),
  );
  return {
    id: e.id,
    hostname: e.hostname,
    entityRef: e.entityRef,
    os:
      e.os ??
      [e.osInfo.name, e.osInfo.version].filter(Boolean).join(' ') ??
      undefined,
    agentVersion: e.agentVersion,
    lastSeenAt: e.lastSeenAt,
    enrolledAt: e.enrolledAt,
    health: e.health,
    installed: e.installed,
    pending: e.pending.map(p => {
      const patchRef = patchOf.get(`${p.ecosystem}\u0000${p.name}`);
      return patchRef ? { ...p, patchRef } : p;
    }),
    needed,
    jobs: e.jobs.map(j => ({
      id: j.id,
      kind: j.kind,
      state: j.state,
      ...(j.verification ? { verification: j.verification } : {}),
      patchRef: j.patchRef,
      rolloutId: j.rolloutId,
      attempt: j.attempt,
      createdAt: j.createdAt,
      finishedAt: j.finishedAt,
      message: j.message ?? j.result?.message,
    })),
  };
}
