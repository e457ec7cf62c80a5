/*
 * The reaper's two indexes on patch_jobs become partial, each holding only
 * the jobs the reaper can find with it:
 * - (lease_expires_at) where state is leased or running (leases and
 *   timeouts that run out), instead of (state, lease_expires_at) over every
 *   job;
 * - (expires_at) where state is queued (time-to-live), instead of
 *   (state, expires_at) over every job.
 * The reaper's query states both conditions, so both indexes serve it
 * (PostgreSQL and SQLite alike). Writing a wave's 100,000 queued jobs then
 * writes no entry in the first; a lease (queued → leased) or a finished job
 * writes one entry fewer; and neither index keeps entries for the finished
 * jobs that make up most of the table over time.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_jobs', table => {
    table.dropIndex(
      ['state', 'lease_expires_at'],
      'patch_jobs_state_lease_idx',
    );
    table.dropIndex(['state', 'expires_at'], 'patch_jobs_state_expires_idx');
  });
  await knex.raw(
    `CREATE INDEX patch_jobs_lease_idx ON patch_jobs (lease_expires_at)
      WHERE state IN ('leased', 'running')`,
  );
  await knex.raw(
    `CREATE INDEX patch_jobs_ttl_idx ON patch_jobs (expires_at)
      WHERE state = 'queued'`,
  );
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.raw('DROP INDEX patch_jobs_ttl_idx');
  await knex.raw('DROP INDEX patch_jobs_lease_idx');
  await knex.schema.alterTable('patch_jobs', table => {
    table.index(['state', 'lease_expires_at'], 'patch_jobs_state_lease_idx');
    table.index(['state', 'expires_at'], 'patch_jobs_state_expires_idx');
  });
};
