import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cfg-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('loadConfig', () => {
  it('fills in defaults', async () => {
    const file = join(dir, 'c.json');
    await writeFile(file, '{}');
    const config = loadConfig({ file, env: {} });
    expect(config).toMatchObject({
      stateDir: '/var/lib/patch-agent',
      provider: 'auto',
      maintenanceWindows: [],
      // Installing a downloaded file as root is the owner's decision, never a default.
      artifacts: { enabled: false, allowedSources: [] },
      bandwidthLimitKbps: 0,
      checkIn: {
        defaultIntervalSeconds: 60,
        jitterRatio: 0.1,
        maxBackoffSeconds: 300,
      },
    });
  });

  it('takes artifact sources as URLs only', async () => {
    const file = join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({
        artifacts: { enabled: true, allowedSources: ['packages.internal/'] },
      }),
    );
    expect(() => loadConfig({ file, env: {} })).toThrow(
      /artifacts\.allowedSources\.0/,
    );
  });

  it('lets the environment win over the file', async () => {
    const file = join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({
        provider: 'apt',
        labels: { site: 'a' },
        log: { level: 'warn' },
      }),
    );
    const config = loadConfig({
      file,
      env: {
        PATCH_AGENT_PROVIDER: 'simulated',
        PATCH_AGENT_LABELS: 'site=berlin,ring=pilot',
        PATCH_AGENT_BANDWIDTH_LIMIT_KBPS: '512',
        PATCH_AGENT_LOG_LEVEL: 'debug',
      },
    });
    expect(config.provider).toBe('simulated');
    expect(config.labels).toEqual({ site: 'berlin', ring: 'pilot' });
    expect(config.bandwidthLimitKbps).toBe(512);
    expect(config.log.level).toBe('debug');
  });

  it('says in one sentence what is wrong', async () => {
    const file = join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({
        maintenanceWindows: [
          {
            days: ['mon'],
            start: '25:00',
            durationMinutes: 60,
            timeZone: 'UTC',
          },
        ],
      }),
    );
    expect(() => loadConfig({ file, env: {} })).toThrow(
      new ConfigError(
        `Invalid configuration in ${file}: maintenanceWindows.0.start: start must be HH:mm.`,
      ),
    );
    await writeFile(file, JSON.stringify({ provider: 'yum' }));
    expect(() => loadConfig({ file, env: {} })).toThrow(
      /^Invalid configuration in .*: provider: /,
    );
    await writeFile(file, JSON.stringify({ unknownKey: 1 }));
    expect(() => loadConfig({ file, env: {} })).toThrow(/Unrecognized key/);
    await writeFile(file, '{');
    expect(() => loadConfig({ file, env: {} })).toThrow(/is not valid JSON/);
    expect(() =>
      loadConfig({ file: join(dir, 'missing.json'), env: {} }),
    ).toThrow(/Cannot read the configuration file .*: ENOENT\./);
  });
});
