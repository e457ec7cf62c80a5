/*
 * Refusals of the area's rules, answered like the policy's: a domain
 * service throws a Refusal (permissions/caller.ts) when a rule of its area
 * refuses the caller; the route audits it and answers 403 through
 * service/authorize.ts's `refuse`, as a refusal of the permission policy.
 */
import { Request } from 'express';
import { Refusal } from '../permissions/caller';
import { AuthorizeDeps, refuse } from './authorize';

export type { AuthorizeDeps };

/** The deps as service/authorize.ts takes them (kept for the route files' calls). @internal */
export function authz(deps: AuthorizeDeps): AuthorizeDeps {
  return deps;
}

/**
 * Runs a domain call; a Refusal it throws is audited and answered 403.
 * `req` is undefined for an action of the actions registry. @internal
 */
export async function refusing<T>(
  deps: AuthorizeDeps,
  req: Request<any, any, any, any> | undefined,
  actor: string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Refusal) {
      return refuse(authz(deps), req, actor, error.target, error.message);
    }
    throw error;
  }
}
