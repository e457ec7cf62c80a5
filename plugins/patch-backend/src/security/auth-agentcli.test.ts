/*
 * The real agent command line (agent/bin/patch-agent, from its sources)
 * against the real backend over HTTP, SQLite and PostgreSQL:
 * - a second state directory holding a copy of one agent's credential
 *   (a cloned disk) on another machine is refused at its check-in and the
 *   backend records a possible clone;
 * - another machine that claims the first one's machine id (public) with
 *   its own token cannot enroll it: the endpoint and its secret stay.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AddressInfo } from 'node:net';
import { createToken, startSecurityBackend } from './__testUtils__/authHarness';

jest.setTimeout(180_000);

// eslint-disable-next-line no-restricted-syntax -- a test run from the sources, never built
const repo = path.resolve(__dirname, '../../../..');
const bin = path.join(repo, 'agent/bin/patch-agent');

/** Runs the agent CLI with a config file; resolves with its exit code and output. */
function agentCli(
  config: object,
  args: string[],
): Promise<{ code: number; output: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patch-agentcli-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  return new Promise(resolve => {
    execFile(
      process.execPath,
      [bin, '-c', file, ...args],
      { cwd: repo, timeout: 120_000 },
      (error, stdout, stderr) => {
        let code = 0;
        if (error) {
          code =
            typeof (error as any).code === 'number' ? (error as any).code : 1;
        }
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe('the agent command line against cloned and claimed identities', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });

  it.each(databases.eachSupportedId())(
    'a copied credential on another machine is refused and flagged; a claimed machine id cannot be enrolled, on %p',
    async databaseId => {
      const h = await startSecurityBackend(databases, databaseId);
      const { port } = (h.server.address() as AddressInfo) ?? {};
      const url = `http://127.0.0.1:${port}/api/patch`;
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'patch-agent-'));
      const base = (name: string, machineId: string) => ({
        provider: 'simulated',
        stateDir: path.join(root, name),
        hostname: name,
        machineId,
        log: { level: 'error' },
        checkIn: { requestTimeoutSeconds: 10 },
      });

      // The original machine enrolls with the CLI.
      const enrolled = await agentCli(base('original', 'machine-original'), [
        'enroll',
        '--url',
        url,
        '--token',
        await createToken(h, { ownerRef: 'group:default/team-a' }),
      ]);
      expect(enrolled).toMatchObject({ code: 0 });
      const creds = JSON.parse(
        fs.readFileSync(
          path.join(root, 'original', 'credentials.json'),
          'utf8',
        ),
      );
      const before = await h.knex('patch_endpoints').first();
      expect(before.id).toBe(creds.agentId);

      // Its state directory copied to another machine.
      fs.mkdirSync(path.join(root, 'copy'), { recursive: true });
      fs.copyFileSync(
        path.join(root, 'original', 'credentials.json'),
        path.join(root, 'copy', 'credentials.json'),
      );
      const copy = await agentCli(base('copy', 'machine-copy'), [
        'run',
        '--once',
      ]);
      expect(copy.code).not.toBe(0);
      const flagged = await h
        .knex('patch_audit_events')
        .where({ action: 'agent-clone-suspected', target_id: creds.agentId })
        .select('message');
      expect(flagged.length).toBeGreaterThanOrEqual(1);
      expect((await h.knex('patch_endpoints').first()).last_seen_at).toEqual(
        before.last_seen_at,
      );

      // Another machine claiming the original's machine id, with its own
      // (other team's) token and an empty state directory.
      const claim = await agentCli(base('claimer', 'machine-original'), [
        'enroll',
        '--url',
        url,
        '--token',
        await createToken(h, { ownerRef: 'group:default/team-b' }),
      ]);
      expect(claim.code).not.toBe(0);
      const after = await h.knex('patch_endpoints').select();
      expect(after).toHaveLength(1);
      expect(after[0]).toEqual(before);
      fs.rmSync(root, { recursive: true, force: true });
    },
  );
});
