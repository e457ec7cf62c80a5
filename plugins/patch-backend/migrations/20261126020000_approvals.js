/*
 * Applicability, approval requests and decisions, and risk exceptions.
 *
 * `patch_applicability` holds only the rows that matter (needed, installed):
 * one per (endpoint, patch, package). The small tables next to it let the
 * full recompute run as set operations in the database: the patch targets
 * as last read from the catalog, the release key of every endpoint, and a
 * staging table of version verdicts computed in JavaScript.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_applicability', table => {
    table.comment('Which endpoint needs or has installed which patch');
    table.string('endpoint_id', 128).notNullable();
    table.string('patch_ref', 255).notNullable();
    table.string('package', 256).notNullable();
    table.string('ecosystem', 32).notNullable();
    table.string('installed_version', 256).notNullable();
    table.string('fixed_version', 256).notNullable();
    table.string('state', 16).notNullable().comment('needed or installed');
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.primary(['endpoint_id', 'patch_ref', 'package']);
    table.index(['patch_ref', 'state'], 'patch_applicability_patch_idx');
  });

  await knex.schema.createTable('patch_applicability_targets', table => {
    table.comment('Patch targets as last read from the catalog');
    table.string('patch_ref', 255).notNullable();
    table.string('ecosystem', 32).notNullable();
    table.string('release', 128).notNullable();
    table.string('package', 256).notNullable();
    table.string('fixed_version', 256).notNullable();
    table.primary(['patch_ref', 'ecosystem', 'release', 'package']);
    table.index(
      ['ecosystem', 'package'],
      'patch_applicability_targets_pkg_idx',
    );
  });

  await knex.schema.createTable('patch_endpoint_releases', table => {
    table.comment(
      'Release match key of each endpoint (e.g. almalinux:9, or * when unknown)',
    );
    table.string('endpoint_id', 128).primary().notNullable();
    table.string('match_key', 128).notNullable();
  });

  await knex.schema.createTable('patch_applicability_verdicts', table => {
    table.comment(
      'Staging of the full recompute: one verdict per distinct installed version and target',
    );
    table.string('ecosystem', 32).notNullable();
    table.string('package', 256).notNullable();
    table.string('version', 256).notNullable();
    table.string('match_key', 128).notNullable();
    table.string('patch_ref', 255).notNullable();
    table.string('fixed_version', 256).notNullable();
    table.string('state', 16).notNullable();
  });

  // The full recompute joins the inventory on (ecosystem, name, version);
  // with endpoint_id in the index too, PostgreSQL answers it from the index
  // alone (index-only scan) instead of visiting 30M heap rows.
  if (await knex.schema.hasTable('patch_inventory_packages')) {
    await knex.schema.alterTable('patch_inventory_packages', table => {
      table.index(
        ['ecosystem', 'name', 'version', 'endpoint_id'],
        'patch_inventory_packages_env_idx',
      );
    });
  }

  await knex.schema.createTable('patch_approval_requests', table => {
    table.comment('One request per (patch, approving group, stage)');
    table.string('id', 36).primary().notNullable();
    table.string('patch_ref', 255).notNullable();
    table.string('group_ref', 255).notNullable();
    table
      .string('stage', 64)
      .notNullable()
      .comment('owners, or the name of an extra stage of the policy');
    table
      .string('state', 16)
      .notNullable()
      .comment('pending, approved, rejected, deferred, expired, auto-approved');
    table.string('severity', 16).nullable();
    table.boolean('known_exploited').notNullable().defaultTo(false);
    table.timestamp('due_at', { useTz: true }).nullable();
    table.timestamp('deferred_until', { useTz: true }).nullable();
    table.timestamp('decided_at', { useTz: true }).nullable();
    table.string('decided_by', 255).nullable();
    table.text('comment').nullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.timestamp('due_soon_notified_at', { useTz: true }).nullable();
    table.timestamp('overdue_notified_at', { useTz: true }).nullable();
    table.unique(['patch_ref', 'group_ref', 'stage'], {
      indexName: 'patch_approval_requests_key',
    });
    table.index(['group_ref', 'state'], 'patch_approval_requests_group_idx');
    table.index(['state', 'due_at'], 'patch_approval_requests_due_idx');
  });

  await knex.schema.createTable('patch_approval_request_endpoints', table => {
    table.comment('The endpoints (and services on them) a request covers');
    table.string('request_id', 36).notNullable();
    table.string('endpoint_id', 128).notNullable();
    table.string('endpoint_ref', 255).nullable();
    table.string('system_ref', 255).nullable();
    table
      .text('entity_refs')
      .nullable()
      .comment('JSON: components and systems concerned that the group owns');
    table.primary(['request_id', 'endpoint_id']);
    table.index(['endpoint_id'], 'patch_approval_request_endpoints_ep_idx');
  });

  await knex.schema.createTable('patch_approval_decisions', table => {
    table.comment('Who decided what on a request, when and why; append-only');
    table.bigIncrements('id').primary();
    table.string('request_id', 36).notNullable();
    table
      .string('action', 32)
      .notNullable()
      .comment('approve, reject, defer, auto-approve, expire, reopen');
    table.string('from_state', 16).notNullable();
    table.string('to_state', 16).notNullable();
    table.string('actor', 255).notNullable();
    table.text('comment').nullable();
    table.timestamp('deferred_until', { useTz: true }).nullable();
    table.timestamp('decided_at', { useTz: true }).notNullable();
    table.index(['request_id'], 'patch_approval_decisions_request_idx');
  });

  await knex.schema.createTable('patch_exceptions', table => {
    table.comment(
      'Accepted risks: a patch is not required on an endpoint, component or system',
    );
    table.string('id', 36).primary().notNullable();
    table.string('patch_ref', 255).notNullable();
    table
      .string('scope_kind', 16)
      .notNullable()
      .comment('endpoint, component or system');
    table.string('scope_ref', 255).notNullable().comment('entity ref');
    table.text('reason').notNullable();
    table.string('approver', 255).notNullable();
    table.text('compensating_control').notNullable();
    table
      .string('vex_status', 16)
      .notNullable()
      .comment('not_affected or affected');
    table.string('justification', 64).nullable();
    table.text('impact_statement').nullable();
    table.text('action_statement').nullable();
    table.timestamp('expires_at', { useTz: true }).notNullable();
    table.string('created_by', 255).notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('revoked_at', { useTz: true }).nullable();
    table.string('revoked_by', 255).nullable();
    table.index(['patch_ref'], 'patch_exceptions_patch_idx');
    table.index(['expires_at'], 'patch_exceptions_expiry_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_exceptions');
  await knex.schema.dropTable('patch_approval_decisions');
  await knex.schema.dropTable('patch_approval_request_endpoints');
  await knex.schema.dropTable('patch_approval_requests');
  if (await knex.schema.hasTable('patch_inventory_packages')) {
    const has = await knex.schema.hasColumn(
      'patch_inventory_packages',
      'version',
    );
    if (has) {
      await knex.schema.alterTable('patch_inventory_packages', table => {
        table.dropIndex(
          ['ecosystem', 'name', 'version', 'endpoint_id'],
          'patch_inventory_packages_env_idx',
        );
      });
    }
  }
  await knex.schema.dropTable('patch_applicability_verdicts');
  await knex.schema.dropTable('patch_endpoint_releases');
  await knex.schema.dropTable('patch_applicability_targets');
  await knex.schema.dropTable('patch_applicability');
};
