/* eslint-disable new-cap -- openapi-fetch names its methods GET, POST, … */
/* The audit trail: a page of events, and the export. */
import { unwrap } from '@patchbay/plugin-patch-common';
import type { AuditPage, AuditQuery } from '../types';
import type { PatchApiCore } from './core';

export async function queryAudit(
  core: PatchApiCore,
  query: AuditQuery,
): Promise<AuditPage> {
  const c = await core.client.raw();
  const { data, error, response } = await c.GET('/audit', {
    params: { query },
  });
  const page = unwrap(data, error, response);
  return {
    items: page.items.map(e => ({
      id: e.id,
      at: e.occurredAt,
      actor: e.actor,
      action: e.action,
      outcome: e.outcome,
      targetType: e.targetType,
      targetId: e.targetId,
      groupRef: e.groupRef,
      systemRef: e.systemRef,
      message: e.message,
    })),
    nextBefore: page.nextBefore,
  };
}

export async function exportAudit(
  core: PatchApiCore,
  query: AuditQuery,
  format: 'csv' | 'json',
) {
  // Streamed by the backend; fetched as a blob with the user's token,
  // which a plain link could not carry.
  const response = await core.fetch('/audit/export', {
    format,
    from: query.from,
    to: query.to,
    action: query.action,
    actor: query.actor,
  });
  return response.blob();
}
