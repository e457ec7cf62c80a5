import { recordingExec } from '../__testUtils__/recordingExec';
import { silentLogger } from '../logger';
import { AptProvider } from '../providers/apt';
import { LeasedJob } from '../state/Outbox';
import { parseJobDistribution } from './distribution';
import { executeJob } from './executeJob';

const job = (distribution: unknown): LeasedJob => ({
  id: 'j1',
  attempt: 1,
  kind: 'install',
  leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
  timeoutSeconds: 60,
  payload: {
    ecosystem: 'deb',
    packages: [{ name: 'tiny', version: '1.1-1' }],
    distribution,
  } as any,
});

function apt() {
  const exec = recordingExec([
    [
      /^dpkg-query -W -f=\$\{binary:Package\}/,
      { stdout: 'tiny\t1.0-1\tall\tii \ttiny\t1.0-1\n' },
    ],
  ]);
  return { exec, provider: new AptProvider({ exec }) };
}

const run = (provider: AptProvider, j: LeasedJob) =>
  executeJob(
    j,
    {
      provider,
      signal: new AbortController().signal,
      logger: silentLogger,
      downloadsDir: '/nonexistent',
      sendInventory: async () => ({ packages: 0, pending: 0 }),
    },
    new Date().toISOString(),
  );

describe('payload.distribution', () => {
  it('reaches apt: the install is throttled to the payload’s KiB/s', async () => {
    const { exec, provider } = apt();
    await run(provider, job({ throttleKiBps: 256 }));
    const install = exec.calls.find(c => c.includes('install'))!;
    expect(install).toEqual(
      expect.arrayContaining(['-o', 'Acquire::http::Dl-Limit=256']),
    );
  });

  it('fails the job, naming the field, and runs no package manager when it is malformed', async () => {
    const { exec, provider } = apt();
    const result = await run(
      provider,
      job({
        throttleKiBps: 256,
        mirrors: [{ origin: 'http://a.invalid/', url: 'http://m.invalid/ x' }],
      }),
    );
    expect(result.status).toBe('failed');
    expect(result.message).toBe(
      "The job's distribution settings are invalid: distribution.mirrors.0.url must be an http(s) URL without white space.",
    );
    expect(exec.calls).toEqual([]);
  });

  it('reads what the backend sends and refuses what it must not run', () => {
    expect(parseJobDistribution(undefined)).toBeUndefined();
    expect(
      parseJobDistribution({
        throttleKiBps: 1,
        proxy: 'https://p.invalid:3128',
        mirrors: [{ repo: 'base*', url: 'http://m.invalid/$basearch' }],
      }),
    ).toEqual({
      throttleKiBps: 1,
      proxy: 'https://p.invalid:3128',
      mirrors: [{ repo: 'base*', url: 'http://m.invalid/$basearch' }],
    });
    expect(parseJobDistribution({ throttleKiBps: 0 })).toEqual({
      error: expect.stringContaining('distribution.throttleKiBps'),
    });
    expect(
      parseJobDistribution({ mirrors: [{ url: 'http://m.invalid/' }] }),
    ).toEqual({
      error: expect.stringContaining(
        'distribution.mirrors.0 needs origin or repo',
      ),
    });
    expect(
      parseJobDistribution({
        mirrors: [{ repo: 'x.baseurl=http://evil', url: 'http://m.invalid/' }],
      }),
    ).toEqual({
      error: expect.stringContaining(
        'distribution.mirrors.0.repo must be a repository id',
      ),
    });
  });
});
