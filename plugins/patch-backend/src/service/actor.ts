/*
 * Who calls, in the HTTP layer: the audit name of Backstage credentials
 * (the one definition; service/authorize.ts and the routes use it), and the
 * plain identity the routes hand to domain services (permissions/caller.ts).
 */
import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { Request } from 'express';
import { CallerIdentity } from '../permissions/caller';

/** The audit name of a caller: a user's entity ref, or `service:<subject>`. @internal */
export function actorOf(credentials: BackstageCredentials): string {
  const p = credentials.principal as {
    type: string;
    userEntityRef?: string;
    subject?: string;
  };
  if (p.type === 'user' && p.userEntityRef) return p.userEntityRef;
  if (p.type === 'service' && p.subject) return `service:${p.subject}`;
  return p.type;
}

/**
 * The plain identity of an authorized user (`authorizeUser`'s answer, or a
 * caller with its claims), for a domain service; the request goes along
 * untouched for Backstage's auditor only.
 * @internal
 */
export function identityOf(
  caller: { userRef: string; claims: string[] },
  req: Request<any, any, any, any>,
): CallerIdentity {
  return {
    userEntityRef: caller.userRef,
    ownershipEntityRefs: caller.claims,
    auditRequest: req as Request,
  };
}
