/*
 * Finding "notifications link to pages that do not exist": every link the
 * backend emits in the notifications of a real scenario (approval requests
 * for the owners, a rollout paused on its health signal) must resolve to a
 * page of the app. The app's routes are read from where the app declares
 * them, so that renaming a page or a tab without the links fails here:
 * - packages/app mounts @patchbay/plugin-patch/alpha, whose page is the
 *   PageBlueprint path in plugins/patch-frontend/src/alpha.tsx (unless the
 *   app config overrides `page:patch`);
 * - the page's tabs are the RoutedTabs paths of PatchesPage.tsx;
 * - the rollouts tab routes `:rolloutId` (RolloutsTab.tsx), the approvals
 *   tab `requests/:requestId` (ApprovalsTab.tsx).
 * SQLite and PostgreSQL.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import fs from 'node:fs';
import path from 'node:path';
import { APPROVALS_LINK, approvalRequestLink } from '../appLinks';
import {
  HEALTH_GATED_POLICY,
  startRolloutEnv,
} from '../rollouts/__testUtils__/rolloutEnv';
import {
  healthComponent,
  runPilotIntoSoak,
  useClock,
} from './__testUtils__/pilotRollout';

jest.setTimeout(240_000);

// eslint-disable-next-line no-restricted-syntax -- a test run from the sources, never built
const repo = path.resolve(__dirname, '../../../..');
const read = (p: string) => fs.readFileSync(path.join(repo, p), 'utf8');

/** The app's route patterns of the Patchbay UI, from their declarations. */
function appRoutes(): string[] {
  const app = read('packages/app/src/App.tsx');
  expect(app).toContain("from '@patchbay/plugin-patch/alpha'");
  for (const config of ['app-config.yaml', 'app-config.demo.yaml']) {
    expect(read(config)).not.toMatch(/page:patch/);
  }
  const alpha = read('plugins/patch-frontend/src/alpha.tsx');
  const page =
    /PageBlueprint\.make\(\{\s*params:\s*\{\s*path:\s*'([^']+)'/.exec(
      alpha,
    )?.[1];
  expect(page).toBeDefined();
  const tabs = [
    ...read(
      'plugins/patch-frontend/src/components/PatchesPage/PatchesPage.tsx',
    ).matchAll(/\{\s*path:\s*'([^']+)',\s*title:/g),
  ].map(m => m[1]);
  expect(tabs).toContain('/rollouts');
  const rolloutRoutes = [
    ...read(
      'plugins/patch-frontend/src/components/RolloutsTab/RolloutsTab.tsx',
    ).matchAll(/<Route path="([^"]+)"/g),
  ].map(m => m[1]);
  const join = (...parts: string[]) =>
    `/${parts
      .flatMap(p => p.split('/'))
      .filter(Boolean)
      .join('/')}`;
  // The approvals tab (the page's root) routes `requests/:requestId`.
  const approvalRoutes = [
    ...read(
      'plugins/patch-frontend/src/components/ApprovalsTab/ApprovalsTab.tsx',
    ).matchAll(/<Route path="([^"]+)"/g),
  ].map(m => m[1]);
  return [
    ...tabs.map(t => join(page!, t)),
    ...rolloutRoutes.map(r => join(page!, '/rollouts', r)),
    ...approvalRoutes.map(r => join(page!, r)),
  ];
}

/** Whether a path matches a route pattern (`:param` matches one segment). */
function matches(route: string, link: string): boolean {
  const r = route.split('/').filter(Boolean);
  const l = new URL(link, 'http://app').pathname.split('/').filter(Boolean);
  return (
    r.length === l.length &&
    r.every((seg, i) => seg.startsWith(':') || seg === l[i])
  );
}

describe('notification links', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });
  useClock();

  it.each(databases.eachSupportedId())(
    'every link the backend emits opens an existing page of the app, on %p',
    async databaseId => {
      const routes = appRoutes();
      expect(routes).toEqual(
        expect.arrayContaining(['/patches', '/patches/rollouts/:rolloutId']),
      );
      // The emergency notice's one-click approval opens the request page
      // (rollouts/emergencyApprovals.test.ts checks the notices carry it).
      const quick = approvalRequestLink('req-1', { decide: 'approve' });
      expect({
        link: quick,
        resolves: routes.some(route => matches(route, quick)),
      }).toEqual({ link: quick, resolves: true });
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: HEALTH_GATED_POLICY,
        entities: [
          healthComponent('web', 'http://10.0.0.1/healthz', 'links-ep', 4),
        ],
      });
      await runPilotIntoSoak(env, 'links-ep', 4);

      // The rollout's notices, and the approvals area's (every one of them
      // carries APPROVALS_LINK; this world's patch is auto-approved, and a
      // request settled in its own pass is not announced).
      expect(env.notifications.map(n => n.payload?.topic as string)).toEqual(
        expect.arrayContaining(['patch-rollout']),
      );
      const links = [
        ...new Set([
          APPROVALS_LINK,
          ...env.notifications
            .map(n => n.payload?.link as string | undefined)
            .filter((l): l is string => !!l),
        ]),
      ];
      expect(links.length).toBeGreaterThanOrEqual(2);
      for (const link of links) {
        expect({
          link,
          resolves: routes.some(route => matches(route, link)),
        }).toEqual({ link, resolves: true });
      }
      await env.stop();
    },
  );
});
