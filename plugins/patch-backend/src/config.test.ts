import { ConfigReader } from '@backstage/config';
import { readPatchConfig, readPermissionGroups } from './config';
import { PatchbayPermissionPolicy } from './permissions/policy';

describe('readPatchConfig', () => {
  it('fills in the documented defaults', () => {
    const settings = readPatchConfig(new ConfigReader({}));
    expect(settings.databaseClient).toBe('unknown');
    expect(settings.securityGroup).toBe('group:default/security');
    expect(settings.operationsGroup).toBeUndefined();
    expect(settings.agent.checkInIntervalSeconds).toBe(60);
    expect(settings.agent.maxBodySize).toBe('2mb');
    expect(settings.agent.maxCheckInBatch).toBe(500);
    expect(settings.jobs).toEqual({
      leaseSeconds: 300,
      defaultTtlSeconds: 604800,
      defaultTimeoutSeconds: 3600,
      reaperIntervalSeconds: 30,
      verificationDeadlineSeconds: 86400,
      allowArtifacts: false,
    });
    expect(settings.exceptions.maxDays).toBe(365);
    expect(settings.approvals.approvers).toBe('owners-of-dependents');
    expect(settings.approvals.schedules.sync.frequency).toEqual({
      minutes: 5,
    });
    expect(settings.rollouts.driverSchedule.frequency).toEqual({
      seconds: 15,
    });
    expect(settings.reports.schedule.frequency).toEqual({ minutes: 1 });
    expect(settings.itsm.webhook).toBeUndefined();
    expect(settings.itsm.retry).toEqual({
      maxAttempts: 10,
      initialDelayMs: 30_000,
      maxDelayMs: 1_800_000,
      callTimeoutMs: 60_000,
    });
  });

  it('reads the configured values', () => {
    const settings = readPatchConfig(
      new ConfigReader({
        backend: { database: { client: 'pg' } },
        patch: {
          operationsGroup: 'group:default/ops',
          agent: { authFailures: { limit: 5 } },
          endpoints: {
            rules: [{ labels: { site: 'lab' }, owner: 'group:default/lab' }],
          },
          itsm: {
            webhook: { url: 'https://itsm.example', headers: { a: 'b' } },
            retry: { initialDelaySeconds: 2 },
          },
          reports: { schedule: { frequency: { hours: 1 }, timeout: 'PT5M' } },
        },
      }),
    );
    expect(settings.databaseClient).toBe('pg');
    expect(settings.operationsGroup).toBe('group:default/ops');
    expect(settings.agent.authFailures).toEqual({
      limit: 5,
      windowSeconds: 60,
    });
    expect(settings.endpoints.rules).toEqual([
      { labels: { site: 'lab' }, owner: 'group:default/lab' },
    ]);
    expect(settings.itsm.webhook).toEqual({
      url: 'https://itsm.example',
      headers: { a: 'b' },
      timeoutMs: 10_000,
    });
    expect(settings.itsm.retry.initialDelayMs).toBe(2000);
    expect(settings.reports.schedule.frequency).toEqual({ hours: 1 });
  });

  it('refuses values that cannot work, at start', () => {
    expect(() =>
      readPatchConfig(
        new ConfigReader({ patch: { approvals: { approvers: 'anyone' } } }),
      ),
    ).toThrow(/patch\.approvals\.approvers must be/);
    expect(() =>
      readPatchConfig(
        new ConfigReader({ patch: { exceptions: { maxDays: 0 } } }),
      ),
    ).toThrow(/patch\.exceptions\.maxDays must be a positive number/);
  });
});

describe('readPermissionGroups', () => {
  it('gives the permission policy the groups readPatchConfig reads', () => {
    const config = new ConfigReader({
      patch: { operationsGroup: 'group:default/ops' },
    });
    const policy = PatchbayPermissionPolicy.fromConfig(config);
    expect(policy.operationsGroup).toBe('group:default/ops');
    expect(policy.securityGroup).toBe(readPatchConfig(config).securityGroup);
    expect(readPermissionGroups(config)).toEqual({
      operationsGroup: 'group:default/ops',
      securityGroup: 'group:default/security',
    });
    // Without a configured operations group the policy keeps its default.
    expect(
      PatchbayPermissionPolicy.fromConfig(new ConfigReader({})).operationsGroup,
    ).toBe('group:default/it-operations');
  });
});
