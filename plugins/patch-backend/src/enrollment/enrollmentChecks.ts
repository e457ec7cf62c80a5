/*
 * The small checks of enrollment (EnrollmentService), apart so that the
 * service reads as its rules.
 */

import { timingSafeEqual } from 'node:crypto';
import { AuditRecord } from '../audit/AuditLog';
import { fromDbTime } from '../database/time';
import { TokenRow } from './EnrollmentStore';

/** Why a token cannot enroll, or undefined when it can. @internal */
export function tokenRefusal(
  token: TokenRow | undefined,
  now: number,
): string | undefined {
  if (!token) return 'unknown enrollment token';
  if (token.revoked_at) return 'revoked enrollment token';
  if (Date.parse(fromDbTime(token.expires_at)) <= now) {
    return 'expired enrollment token';
  }
  if (Number(token.uses) >= Number(token.max_uses)) {
    return 'enrollment token used up';
  }
  return undefined;
}

/** Constant-time comparison of two hex hashes. @internal */
export function sameHash(a: string, b: string | null | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** A unique constraint refused an insert (either database). @internal */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed/.test(String(e?.message))
  );
}

/** How a machine proved it may enroll again. @internal */
export type Again = {
  via: 'credentials' | 'grant';
  grantedBy: string | null;
};

/**
 * The audit entry of an enrollment: a first one, or `again` with how the
 * machine proved it may enroll again. @internal
 */
export function enrollmentEntry(e: {
  input: { machineId: string; hostname: string };
  tokenId: string;
  claimed: boolean;
  ownerRef: string | null;
  systemRef: string | null;
  agentId: string;
  entityRef: string;
  again?: Again;
}): AuditRecord {
  const { machineId, hostname } = e.input;
  const via = e.again?.via;
  return {
    actor: `agent:${e.agentId}`,
    action: e.again ? 'agent-reenroll' : 'agent-enroll',
    outcome: 'succeeded',
    targetType: 'endpoint',
    targetId: e.agentId,
    groupRef: e.ownerRef ?? undefined,
    systemRef: e.systemRef ?? undefined,
    message: e.again
      ? `Machine ${machineId} enrolled again (${
          via === 'grant' ? "an operator's grant" : 'proof of its credentials'
        }); its secret was rotated`
      : `Machine ${machineId} enrolled as ${e.entityRef}`,
    details: {
      machineId,
      hostname,
      enrollmentTokenId: e.tokenId,
      entityRef: e.entityRef,
      claimed: e.claimed,
      ...(via ? { via } : {}),
      ...(via === 'grant' ? { grantedBy: e.again!.grantedBy } : {}),
    },
  };
}
