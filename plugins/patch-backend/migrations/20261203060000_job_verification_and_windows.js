/*
 * Jobs that tell the truth and wait for their windows.
 *
 * - patch_jobs.verification: of a succeeded install, `pending` until the
 *   endpoint's next inventory is evaluated, then `verified`, or `unverified`
 *   (the job then reads failed). Gates and progress count verified ones.
 * - patch_jobs.window_ends_at: the end of the maintenance window the job
 *   may start in (with not_before, its opening). A queued job is leased only
 *   while not_before <= now < window_ends_at; once the window has closed the
 *   queue moves both to the next opening. Null: any time.
 * - patch_rollouts.freeze_from / freeze_to: the current or next change
 *   freeze of the rollout's policy as the driver last read it from the
 *   catalog (live, not the copy taken at the start); the lease hands out no
 *   job of the rollout while it lasts.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_jobs', table => {
    table
      .string('verification', 16)
      .nullable()
      .comment('succeeded installs: pending|verified|unverified');
    table
      .timestamp('window_ends_at', { useTz: true })
      .nullable()
      .comment('end of the maintenance window opening at not_before');
  });
  await knex.schema.alterTable('patch_rollouts', table => {
    table
      .timestamp('freeze_from', { useTz: true })
      .nullable()
      .comment('current or next change freeze of the live policy: start');
    table
      .timestamp('freeze_to', { useTz: true })
      .nullable()
      .comment('current or next change freeze of the live policy: end');
  });
  // The inventory listener looks up an endpoint's installs awaiting
  // verification; only those few rows are in this index.
  await knex.raw(
    `CREATE INDEX patch_jobs_verification_idx ON patch_jobs (endpoint_id)
      WHERE verification = 'pending'`,
  );
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.raw('DROP INDEX patch_jobs_verification_idx');
  await knex.schema.alterTable('patch_rollouts', table => {
    table.dropColumn('freeze_to');
    table.dropColumn('freeze_from');
  });
  await knex.schema.alterTable('patch_jobs', table => {
    table.dropColumn('window_ends_at');
    table.dropColumn('verification');
  });
};
