/*
 * The terms of a risk exception, checked before one is written: who
 * accepted the risk (a User or Group of the catalog, and not the requester:
 * nobody accepts their own risk) and for how long (at most
 * `patch.exceptions.maxDays`, a year by default, so that every exception
 * comes back for review).
 */
import {
  Entity,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';

/** Longest exception by default, in days. */
export const DEFAULT_MAX_EXCEPTION_DAYS = 365;

const DAY_MS = 24 * 60 * 60 * 1000;

/** `patch.exceptions.maxDays`, checked: a positive number of days. */
export function maxExceptionDays(config: Config): number {
  const days =
    config.getOptionalNumber('patch.exceptions.maxDays') ??
    DEFAULT_MAX_EXCEPTION_DAYS;
  if (!(days > 0)) {
    throw new Error(
      `patch.exceptions.maxDays must be a positive number, got ${days}`,
    );
  }
  return days;
}

/** Checked terms: the approver's normalized ref and the expiry. */
export interface ExceptionTerms {
  approver: string;
  expiresAt: string;
}

/**
 * Checks an exception's approver and expiry; a 400 (InputError) names what
 * is wrong. `findEntity` reads the catalog.
 */
export async function checkExceptionTerms(input: {
  approver: string;
  requester: string;
  expiresAt: string;
  maxDays: number;
  now: Date;
  findEntity: (ref: string) => Promise<Entity | undefined>;
}): Promise<ExceptionTerms> {
  const expires = Date.parse(input.expiresAt);
  if (Number.isNaN(expires) || expires <= input.now.getTime()) {
    throw new InputError('expiresAt must be a date in the future');
  }
  const latest = input.now.getTime() + input.maxDays * DAY_MS;
  if (expires > latest) {
    throw new InputError(
      `expiresAt may be at most ${
        input.maxDays
      } days ahead (patch.exceptions.maxDays), that is before ${new Date(
        latest,
      ).toISOString()}`,
    );
  }
  let approver: string;
  try {
    approver = stringifyEntityRef(
      parseEntityRef(input.approver.trim(), {
        defaultKind: 'user',
        defaultNamespace: 'default',
      }),
    );
  } catch {
    throw new InputError(`approver ${input.approver} is not an entity ref`);
  }
  const kind = parseEntityRef(approver).kind.toLocaleLowerCase('en-US');
  if (kind !== 'user' && kind !== 'group') {
    throw new InputError(`The approver is a User or a Group, not ${approver}`);
  }
  if (approver === input.requester) {
    throw new InputError(
      'The approver must be someone other than the requester: nobody accepts their own risk',
    );
  }
  if (!(await input.findEntity(approver))) {
    throw new InputError(`No ${kind} ${approver} in the catalog`);
  }
  return { approver, expiresAt: new Date(expires).toISOString() };
}
