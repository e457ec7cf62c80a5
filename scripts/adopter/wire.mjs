#!/usr/bin/env node
/**
 * The adopter test's wiring: makes the edits docs/install.md tells an adopter
 * to make in a fresh create-app app, and fails if the file to edit does not
 * look as the guide assumes (a changed template is a reason to update the
 * guide, not to guess).
 *
 * - packages/backend/src/index.ts: §2's lines (the catalog module, Patchbay's
 *   policy module in place of the allow-all one, notifications and signals,
 *   the plugin);
 * - the frontend: nothing (§3: `app.packages: all` is the create-app default;
 *   checked here);
 * - app-config.yaml: §4's catalog rules, §5's configuration; the example
 *   kinds (this repository's examples/) as catalog locations;
 * - app-config.local.yaml: what is local to this test run: the port, a
 *   SQLite folder, the guest sign-in as the example organization's
 *   user:default/guest (a member of the operations group).
 *
 * Usage: node scripts/adopter/wire.mjs <app-dir> <port>
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const [appDir, port] = process.argv.slice(2);
if (!appDir || !port) {
  console.error('usage: wire.mjs <app-dir> <port>');
  process.exit(2);
}
const repo = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../..',
);

function fail(message) {
  console.error(`wire: ${message}`);
  process.exit(1);
}

// §2 Backend.
const indexFile = path.join(appDir, 'packages/backend/src/index.ts');
let index = fs.readFileSync(indexFile, 'utf8');
const replace = (from, to, what) => {
  if (!index.includes(from)) fail(`${what}: not found in ${indexFile}`);
  index = index.replace(from, to);
};
replace(
  "import { createBackend } from '@backstage/backend-defaults';",
  "import { createBackend } from '@backstage/backend-defaults';\nimport { permissionModulePatchPolicy } from '@patchbay/plugin-patch-backend';",
  'the createBackend import',
);
replace(
  "backend.add(import('@backstage/plugin-catalog-backend'));",
  "backend.add(import('@backstage/plugin-catalog-backend'));\nbackend.add(import('@patchbay/plugin-catalog-backend-module-patch'));",
  'the catalog backend line',
);
const allowAll =
  /backend\.add\(\s*import\('@backstage\/plugin-permission-backend-module-allow-all-policy'\),?\s*\);/;
if (!allowAll.test(index)) fail('the allow-all policy module line: not found');
index = index.replace(allowAll, 'backend.add(permissionModulePatchPolicy);');
for (const plugin of [
  '@backstage/plugin-permission-backend',
  '@backstage/plugin-notifications-backend',
  '@backstage/plugin-signals-backend',
]) {
  if (!index.includes(`backend.add(import('${plugin}'));`)) {
    replace(
      'backend.start();',
      `backend.add(import('${plugin}'));\nbackend.start();`,
      'backend.start()',
    );
  }
}
replace(
  'backend.start();',
  "backend.add(import('@patchbay/plugin-patch-backend'));\n\nbackend.start();",
  'backend.start()',
);
fs.writeFileSync(indexFile, index);

// §3 Frontend (new frontend system): discovered through `app.packages: all`.
const configFile = path.join(appDir, 'app-config.yaml');
const doc = YAML.parseDocument(fs.readFileSync(configFile, 'utf8'));
if (doc.getIn(['app', 'packages']) !== 'all') {
  fail(
    'app-config.yaml has no `app.packages: all`: §3 of the guide assumes it',
  );
}

// §4 Catalog rules.
const rules = doc.getIn(['catalog', 'rules']);
if (!rules || !YAML.isSeq(rules)) fail('app-config.yaml has no catalog.rules');
doc.setIn(
  ['catalog', 'rules'],
  doc.createNode([
    {
      allow: [
        'Component',
        'System',
        'API',
        'Resource',
        'Location',
        'Domain',
        'Group',
        'User',
        'Patch',
        'PilotGroup',
        'RolloutPolicy',
      ],
    },
  ]),
);
// The example kinds, as an adopter's own catalog files.
fs.mkdirSync(path.join(appDir, 'examples/patchbay'), { recursive: true });
for (const f of ['org.yaml', 'entities.yaml', 'patchbay.yaml']) {
  fs.copyFileSync(
    path.join(repo, 'examples', f),
    path.join(appDir, 'examples/patchbay', f),
  );
}
const locations = doc.getIn(['catalog', 'locations']);
// This organization replaces create-app's example one (both define
// user:default/guest; ours is a member of the operations group).
const orgIndex = locations.items.findIndex(
  item => YAML.isMap(item) && item.get('target') === '../../examples/org.yaml',
);
if (orgIndex < 0)
  fail("app-config.yaml has no '../../examples/org.yaml' location");
locations.items.splice(orgIndex, 1);
for (const f of ['org.yaml', 'entities.yaml', 'patchbay.yaml']) {
  locations.add(
    doc.createNode({ type: 'file', target: `../../examples/patchbay/${f}` }),
  );
}

// §5 Configuration.
doc.setIn(['permission', 'enabled'], true);
doc.set(
  'patch',
  doc.createNode({
    operationsGroup: 'group:default/it-operations',
    securityGroup: 'group:default/security',
    approvals: { policy: 'rolloutpolicy:default/standard' },
  }),
);
fs.writeFileSync(configFile, doc.toString());

// Local to this run: port, SQLite folder, the guest as an operator.
const base = `http://localhost:${port}`;
const local = {
  app: { baseUrl: base },
  backend: {
    baseUrl: base,
    listen: { port: Number(port) },
    cors: { origin: base },
    database: {
      client: 'better-sqlite3',
      connection: { directory: path.join(appDir, 'sqlite') },
    },
  },
  auth: {
    providers: {
      guest: {
        // Signs in as the catalog's user:default/guest (examples/org.yaml),
        // whose memberOf puts it in group:default/it-operations.
        userEntityRef: 'user:default/guest',
      },
    },
  },
};
fs.writeFileSync(
  path.join(appDir, 'app-config.local.yaml'),
  YAML.stringify(local),
);
console.log(
  'wired: packages/backend/src/index.ts, app-config.yaml, app-config.local.yaml',
);
