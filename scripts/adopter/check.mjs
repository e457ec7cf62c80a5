#!/usr/bin/env node
/**
 * The adopter test's checks against the running app (scripts/adopter/run.sh
 * starts it): the backend and the patch plugin answer, the example kinds are
 * in the catalog, a real agent installed with npm from the packed agent
 * tarball enrolls and checks in (the host's own dpkg inventory, nothing
 * installed), and the Patches page opens in Chromium (playwright-core,
 * Debian's /usr/bin/chromium) and shows what the backend answers.
 *
 * Usage: node check.mjs --app DIR --url URL --agent-tgz FILE --work DIR
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
const { url, work } = args;
const agentTgz = args['agent-tgz'];
const started = Date.now();
const log = message =>
  console.log(`    [${Math.round((Date.now() - started) / 1000)}s] ${message}`);

/** Polls until `fn` returns a truthy value; fails with the last error. */
async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${last ? `: ${last.message}` : ''}`,
      );
    }
    await sleep(2000);
  }
}

async function request(method, route, { token, body } = {}) {
  const res = await fetch(`${url}${route}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
      'x-requested-with': 'XMLHttpRequest',
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    throw new Error(`${method} ${route}: ${res.status} ${text.slice(0, 300)}`);
  }
  return json;
}

/** A guest sign-in, as the browser does it: the Backstage token. */
async function guestToken() {
  const answer = await request(
    'POST',
    '/api/auth/guest/refresh?env=development',
  );
  const token = answer.backstageIdentity.token;
  return { token };
}

// 1. The backend is up and the patch plugin migrated its database.
const health = await waitFor(
  'the patch plugin health route',
  () => request('GET', '/api/patch/health'),
  8 * 60_000,
);
log(`backend up; /api/patch/health: ${JSON.stringify(health)}`);

// 2. The example kinds are in the catalog.
let { token } = await guestToken();
const refs = [
  'group/default/it-operations',
  'user/default/guest',
  'rolloutpolicy/default/standard',
  'pilotgroup/default/canaries',
];
for (const ref of refs) {
  await waitFor(
    `${ref} in the catalog`,
    () => request('GET', `/api/catalog/entities/by-name/${ref}`, { token }),
    5 * 60_000,
  );
}
log(`catalog has ${refs.join(', ')}`);

// 3. Signed in again now that the user is in the catalog: an operator
// (ownership from the catalog's memberOf, as the permission framework reads it).
token = (await guestToken()).token;
const userInfo = await request('GET', '/api/auth/v1/userinfo', { token });
if (!userInfo.claims?.ent?.includes('group:default/it-operations')) {
  throw new Error(
    `the guest is not in group:default/it-operations: ${JSON.stringify(
      userInfo,
    )}`,
  );
}
const enrollment = await request('POST', '/api/patch/enrollment-tokens', {
  token,
  body: { maxUses: 1 },
});
log('enrollment token created by the operator (permission framework on)');

// 4. A real agent, installed with npm from the packed tarball.
const prefix = path.join(work, 'agent');
execFileSync('npm', ['install', '-g', '--prefix', prefix, agentTgz], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const agentBin = path.join(prefix, 'bin/patch-agent');
const stateDir = path.join(work, 'agent-state');
const configFile = path.join(work, 'agent-config.json');
fs.writeFileSync(
  configFile,
  JSON.stringify({
    provider: 'apt',
    machineId: 'adopter-e2e',
    hostname: 'adopter-e2e',
    apt: { update: false },
  }),
);
const agent = (...agentArgs) =>
  execFileSync(
    agentBin,
    ['--config', configFile, '--state-dir', stateDir, ...agentArgs],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
log(
  `agent ${agent('--version').trim()} installed from ${path.basename(
    agentTgz,
  )}`,
);
agent('enroll', '--url', `${url}/api/patch`, '--token', enrollment.token);
const { agentId } = JSON.parse(
  fs.readFileSync(path.join(stateDir, 'credentials.json'), 'utf8'),
);
agent('run', '--once');
const endpoint = await waitFor(
  'the agent inventory in the backend',
  async () => {
    const e = await request('GET', `/api/patch/endpoints/${agentId}`, {
      token,
    });
    return e.installed?.length > 0 && e;
  },
  2 * 60_000,
);
log(
  `agent ${agentId} enrolled and checked in: ${endpoint.installed.length} installed packages reported`,
);

// 5. The Patches page in Chromium.
const browser = await chromium.launch({
  executablePath: process.env.PATCHBAY_CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const page = await browser.newPage({
    viewport: { width: 1400, height: 900 },
  });
  const problems = [];
  page.on('pageerror', err => problems.push(`page error: ${err.message}`));
  page.on('console', msg => {
    const text = msg.text();
    if (/deprecat/i.test(text) && /patch/i.test(text)) {
      problems.push(`deprecation warning: ${text}`);
    }
  });
  await page.goto(`${url}/patches`);
  // The create-app sign-in page (guest provider), when it shows.
  const enter = page.getByRole('button', { name: 'Enter' });
  const heading = page.getByRole('heading', { name: 'Patches', level: 1 });
  await Promise.race([
    enter.waitFor({ timeout: 120_000 }).then(() => enter.click()),
    heading.waitFor({ timeout: 120_000 }),
  ]);
  await heading.waitFor({ timeout: 120_000 });
  // From GET /api/patch/health: the page talks to the backend.
  await page.getByText('better-sqlite3').first().waitFor({ timeout: 60_000 });
  const shot = path.join(work, 'patches-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  log(`Patches page open in Chromium (screenshot ${shot})`);
  if (problems.length > 0) {
    throw new Error(`in the browser:\n  ${problems.join('\n  ')}`);
  }
} finally {
  await browser.close();
}
