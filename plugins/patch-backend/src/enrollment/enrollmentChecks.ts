/*
 * The small checks of enrollment (EnrollmentService), apart so that the
 * service reads as its rules.
 */

import { timingSafeEqual } from 'node:crypto';
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
