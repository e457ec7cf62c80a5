/*
 * The agent API's tables: enrollment tokens, endpoints (one per enrolled
 * agent), their inventory, and the job queue with its idempotent results.
 *
 * Sized for 100,000 endpoints checking in every minute. The check-in hot path
 * is one heartbeat update by primary key (patch_endpoints.id) and one lookup
 * of that endpoint's live jobs, served by patch_jobs_endpoint_state_idx. The
 * reaper scans live jobs by lease expiry (patch_jobs_state_lease_idx) and by
 * time-to-live (patch_jobs_state_expires_idx), never the finished history.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_enrollment_tokens', table => {
    table.comment(
      'Enrollment tokens; only a SHA-256 hash of each token is kept',
    );
    table.string('id', 64).primary().notNullable();
    table
      .string('token_hash', 64)
      .notNullable()
      .unique('patch_enrollment_tokens_hash_uq')
      .comment('hex SHA-256 of the token');
    table.string('description', 512).nullable();
    table.string('owner_ref', 255).nullable();
    table.string('system_ref', 255).nullable();
    table.text('labels').nullable().comment('JSON object of default labels');
    table.timestamp('expires_at', { useTz: true }).notNullable();
    table.integer('max_uses').notNullable();
    table.integer('uses').notNullable().defaultTo(0);
    table.string('created_by', 255).notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('revoked_at', { useTz: true }).nullable();
  });

  await knex.schema.createTable('patch_endpoints', table => {
    table.comment('Enrolled endpoints; the primary key is the agent id');
    table.string('id', 64).primary().notNullable();
    table
      .string('machine_id', 128)
      .notNullable()
      .unique('patch_endpoints_machine_uq');
    table.string('hostname', 253).notNullable();
    table
      .string('entity_ref', 255)
      .notNullable()
      .unique('patch_endpoints_entity_ref_uq')
      .comment('e.g. resource:default/<name>');
    table.boolean('claimed').notNullable().defaultTo(false);
    table.string('owner_ref', 255).nullable();
    table.string('system_ref', 255).nullable();
    table.text('labels').nullable().comment('JSON object');
    table.string('os_family', 64).nullable();
    table.string('os_name', 128).nullable();
    table.string('os_version', 64).nullable();
    table.string('os_arch', 32).nullable();
    table.string('location', 128).nullable();
    table.string('device_type', 128).nullable();
    table.string('department', 128).nullable();
    table
      .string('secret_hash', 64)
      .notNullable()
      .comment('hex SHA-256 of the 256-bit agent secret');
    table.string('enrollment_token_id', 64).nullable();
    table.timestamp('revoked_at', { useTz: true }).nullable();
    table.timestamp('enrolled_at', { useTz: true }).notNullable();
    table.timestamp('last_seen_at', { useTz: true }).nullable();
    table.string('inventory_hash', 128).nullable();
    table.timestamp('inventory_updated_at', { useTz: true }).nullable();
    table.string('agent_version', 64).nullable();
    table.index(['owner_ref'], 'patch_endpoints_owner_idx');
    table.index(['system_ref'], 'patch_endpoints_system_idx');
    // No index on last_seen_at on purpose: every check-in writes it, and an
    // index on it would turn each heartbeat into index writes instead of a
    // heap-only (HOT) update on PostgreSQL. The online/stale filters scan.
  });
  if (knex.client.config.client === 'pg') {
    // Free room in each page, so that heartbeats stay heap-only updates.
    await knex.raw('ALTER TABLE patch_endpoints SET (fillfactor = 70)');
  }

  await knex.schema.createTable('patch_inventory_packages', table => {
    table.comment('Installed packages per endpoint, replaced on each upload');
    table.bigIncrements('id').primary();
    table
      .string('endpoint_id', 64)
      .notNullable()
      .references('id')
      .inTable('patch_endpoints')
      .onDelete('CASCADE');
    table.string('ecosystem', 32).notNullable();
    table.string('name', 256).notNullable();
    table.string('version', 256).notNullable();
    table.string('arch', 32).nullable();
    table.index(['endpoint_id'], 'patch_inventory_packages_endpoint_idx');
    // Applicability joins patch targets to inventory by package.
    table.index(['ecosystem', 'name'], 'patch_inventory_packages_pkg_idx');
  });

  await knex.schema.createTable('patch_pending_updates', table => {
    table.comment('Updates the package manager offers per endpoint');
    table.bigIncrements('id').primary();
    table
      .string('endpoint_id', 64)
      .notNullable()
      .references('id')
      .inTable('patch_endpoints')
      .onDelete('CASCADE');
    table.string('ecosystem', 32).notNullable();
    table.string('name', 256).notNullable();
    table.string('current_version', 256).notNullable();
    table.string('available_version', 256).notNullable();
    table.string('source', 256).nullable();
    table.index(['endpoint_id'], 'patch_pending_updates_endpoint_idx');
    table.index(['ecosystem', 'name'], 'patch_pending_updates_pkg_idx');
  });

  await knex.schema.createTable('patch_jobs', table => {
    table.comment('The job queue: one row per job, its state and attempt');
    table.string('id', 64).primary().notNullable();
    table
      .string('endpoint_id', 64)
      .notNullable()
      .references('id')
      .inTable('patch_endpoints')
      .onDelete('CASCADE');
    table
      .string('kind', 16)
      .notNullable()
      .comment('scan|install|verify|rollback');
    table
      .string('state', 16)
      .notNullable()
      .comment(
        'queued|leased|running|succeeded|failed|timed_out|expired|cancelled',
      );
    table.text('payload').notNullable().comment('JSON');
    table.integer('attempt').notNullable().defaultTo(0);
    table.integer('max_attempts').notNullable().defaultTo(3);
    table
      .timestamp('lease_expires_at', { useTz: true })
      .nullable()
      .comment('leased: start deadline; running: timeout deadline');
    table.timestamp('not_before', { useTz: true }).nullable();
    table
      .timestamp('expires_at', { useTz: true })
      .nullable()
      .comment('time-to-live: never dispatched after this');
    table.integer('timeout_seconds').notNullable();
    table.string('rollout_id', 64).nullable();
    table.string('wave_id', 64).nullable();
    table.string('patch_ref', 255).nullable();
    table.string('created_by', 255).notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.timestamp('started_at', { useTz: true }).nullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.text('result').nullable().comment('JSON of the terminal result');
    // The check-in's lease query: this endpoint's live jobs.
    table.index(['endpoint_id', 'state'], 'patch_jobs_endpoint_state_idx');
    // The reaper: leases and timeouts that ran out.
    table.index(['state', 'lease_expires_at'], 'patch_jobs_state_lease_idx');
    // The reaper: queued jobs past their time-to-live.
    table.index(['state', 'expires_at'], 'patch_jobs_state_expires_idx');
    table.index(['rollout_id', 'wave_id'], 'patch_jobs_rollout_idx');
    table.index(['created_at'], 'patch_jobs_created_idx');
  });

  await knex.schema.createTable('patch_job_results', table => {
    table.comment('Terminal results, exactly one per (job, attempt)');
    table.bigIncrements('id').primary();
    table
      .string('job_id', 64)
      .notNullable()
      .references('id')
      .inTable('patch_jobs')
      .onDelete('CASCADE');
    table.integer('attempt').notNullable();
    table
      .string('status', 16)
      .notNullable()
      .comment('succeeded|failed|timed_out');
    table
      .string('reported_by', 16)
      .notNullable()
      .comment('agent, or server when the reaper timed the job out');
    table.string('installed_version', 256).nullable();
    table.string('previous_version', 256).nullable();
    table.text('message').nullable();
    table.text('output').nullable();
    table.timestamp('started_at', { useTz: true }).nullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.timestamp('reported_at', { useTz: true }).notNullable();
    table.unique(['job_id', 'attempt'], {
      indexName: 'patch_job_results_job_attempt_uq',
    });
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_job_results');
  await knex.schema.dropTable('patch_jobs');
  await knex.schema.dropTable('patch_pending_updates');
  await knex.schema.dropTable('patch_inventory_packages');
  await knex.schema.dropTable('patch_endpoints');
  await knex.schema.dropTable('patch_enrollment_tokens');
};
