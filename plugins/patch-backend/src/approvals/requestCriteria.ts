/*
 * The permission framework's criteria on approval requests as a knex where
 * clause on `patch_approval_requests as r` (ApprovalStore's lists).
 */
import { PermissionCriteria } from '@backstage/plugin-permission-common';
import { Knex } from 'knex';
import type { ApprovalQuery } from '../permissions/rules';
import { whereActive } from './DelegationStore';

/**
 * Turns permission criteria into a knex where clause (allOf / anyOf / not)
 * on `patch_approval_requests as r`; delegations count when active at `now`.
 */
export function applyCriteria(
  q: Knex.QueryBuilder,
  criteria: PermissionCriteria<ApprovalQuery>,
  db: Knex | Knex.Transaction,
  now: Date,
): void {
  if ('allOf' in criteria) {
    q.where(w => {
      for (const c of criteria.allOf)
        w.andWhere(inner => applyCriteria(inner, c, db, now));
    });
  } else if ('anyOf' in criteria) {
    q.where(w => {
      for (const c of criteria.anyOf)
        w.orWhere(inner => applyCriteria(inner, c, db, now));
    });
  } else if ('not' in criteria) {
    q.whereNot(w => applyCriteria(w, criteria.not, db, now));
  } else if (criteria.values.length === 0) {
    q.whereRaw('1 = 0');
  } else if (criteria.key === 'delegate') {
    const values = criteria.values;
    q.whereExists(function sub() {
      this.select(db.raw('1'))
        .from('patch_approval_delegations as d')
        .whereRaw('d.group_ref = r.group_ref')
        .whereIn('d.delegate_ref', values);
      whereActive(this, 'd', now);
    });
  } else {
    q.whereIn(`r.${criteria.key}`, criteria.values);
  }
}
