/*
 * Rollbacks verified by inventory, by ring (issue 20).
 *
 * - patch_waves.rollback_state: null (not in a rollback), `requested` (in
 *   the scope of a rollback), `dispatched`, then `rolled_back` (every
 *   endpoint's next inventory shows the versions from before) or
 *   `rollback_failed`. Before, every started wave of a rolling-back rollout
 *   was in scope and ended `done` once its jobs had finished, verified or
 *   not: rollbacks in flight are put in the new terms (their started waves
 *   in scope; a `done` wave decided again, from its jobs' verification).
 * - patch_rollouts.state may read `rollback_failed`.
 * - patch_jobs.verification: succeeded rollbacks are `pending` too until
 *   the endpoint's next inventory settles them (no schema change).
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  const rollingBack = knex('patch_rollouts')
    .where('state', 'rolling_back')
    .select('id');
  await knex('patch_waves')
    .whereIn('rollout_id', rollingBack)
    .whereNotNull('started_at')
    .whereNull('rollback_state')
    .update({ rollback_state: 'requested' });
  await knex('patch_waves')
    .whereIn('rollout_id', rollingBack)
    .where('rollback_state', 'done')
    .update({ rollback_state: 'dispatched' });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  // The old terms: a rollback ended reads rolled_back and its waves done; a
  // rollback in flight has every started wave in scope again.
  await knex('patch_rollouts')
    .where('state', 'rollback_failed')
    .update({ state: 'rolled_back' });
  await knex('patch_waves')
    .whereIn('rollback_state', ['rolled_back', 'rollback_failed'])
    .update({ rollback_state: 'done' });
  await knex('patch_waves')
    .where('rollback_state', 'requested')
    .update({ rollback_state: null });
  await knex('patch_jobs')
    .where({ kind: 'rollback', verification: 'pending' })
    .update({ verification: null });
};
