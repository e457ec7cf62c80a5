import { MaintenanceWindow } from '@patchbay/plugin-patch-common';
import { newJobGroups } from './creation';
import { buildJobPayload, sharedPayloads } from './payload';
import { NewJob } from './types';

const defaults = { defaultTtlSeconds: 7 * 86400, defaultTimeoutSeconds: 600 };
const now = Date.parse('2026-12-03T10:00:00Z');
const need = (installedVersion: string) => ({
  package: 'openssl',
  ecosystem: 'deb',
  installedVersion,
  fixedVersion: '3',
});

describe('new jobs, grouped by what they share', () => {
  it('writes one group per payload and windows, the ids in the order given', () => {
    const payloadOf = sharedPayloads({
      kind: 'install',
      patchRef: 'patch:default/p',
      rolloutId: 'r1',
    });
    const windows: MaintenanceWindow[] = [
      { days: ['mon'], start: '01:00', durationMinutes: 120, timeZone: 'UTC' },
    ];
    const jobs: NewJob[] = ['a', 'b', 'c', 'd'].map((endpointId, i) => ({
      endpointId,
      kind: 'install',
      // a, b and d have version 1 installed, c version 2.
      payload: payloadOf([need(endpointId === 'c' ? '2' : '1')]),
      maintenanceWindows: i < 3 ? windows : undefined,
      rolloutId: 'r1',
      createdBy: 'system:test',
    }));
    const { groups, ids } = newJobGroups(jobs, now, defaults);

    expect(new Set(ids).size).toBe(4);
    const byEndpoint = new Map<string, { id: string; group: number }>();
    groups.forEach((g, n) => {
      expect(g.endpointIds).toHaveLength(g.ids.length);
      g.endpointIds.forEach((e, i) =>
        byEndpoint.set(e, { id: g.ids[i], group: n }),
      );
    });
    // The ids are returned in the order of the jobs given.
    expect(['a', 'b', 'c', 'd'].map(e => byEndpoint.get(e)!.id)).toEqual(ids);
    // a and b share everything; c has another payload, d no windows.
    expect(groups).toHaveLength(3);
    expect(byEndpoint.get('a')!.group).toBe(byEndpoint.get('b')!.group);
    expect(byEndpoint.get('c')!.group).not.toBe(byEndpoint.get('a')!.group);
    expect(byEndpoint.get('d')!.group).not.toBe(byEndpoint.get('a')!.group);

    // Each group's columns are the job's own: its payload with its windows.
    const shared = (e: string) => groups[byEndpoint.get(e)!.group].shared;
    expect(JSON.parse(shared('a').payload)).toEqual({
      ...buildJobPayload({
        kind: 'install',
        patchRef: 'patch:default/p',
        rolloutId: 'r1',
        needs: [need('1')],
      }),
      maintenanceWindows: windows,
    });
    expect(JSON.parse(shared('c').payload).previousVersion).toBe('2');
    expect(JSON.parse(shared('d').payload).maintenanceWindows).toBeUndefined();
    // 2026-12-03 is a Thursday: the next window opens Monday 01:00 UTC.
    expect(shared('a')).toMatchObject({
      not_before: '2026-12-07T01:00:00.000Z',
      window_ends_at: '2026-12-07T03:00:00.000Z',
    });
    expect(shared('d')).toMatchObject({
      kind: 'install',
      not_before: null,
      window_ends_at: null,
      expires_at: '2026-12-10T10:00:00.000Z',
      timeout_seconds: 600,
      max_attempts: 3,
      rollout_id: 'r1',
      wave_id: null,
      created_by: 'system:test',
    });
  });

  it('keeps jobs with distinct payload objects apart, even when equal', () => {
    const jobs: NewJob[] = ['a', 'b'].map(endpointId => ({
      endpointId,
      kind: 'scan',
      payload: { full: true },
      createdBy: 'user:default/x',
    }));
    const { groups } = newJobGroups(jobs, now, defaults);
    expect(groups.map(g => g.endpointIds)).toEqual([['a'], ['b']]);
  });

  it('shares a payload between endpoints only when their inputs are the same', () => {
    const payloadOf = sharedPayloads({ kind: 'install', patchRef: 'p' });
    const installed = [{ ecosystem: 'deb', name: 'openssl', version: '1' }];
    expect(payloadOf([need('1')])).toBe(payloadOf([need('1')]));
    expect(payloadOf([need('1')])).not.toBe(payloadOf([need('2')]));
    expect(payloadOf([need('1')], installed)).not.toBe(payloadOf([need('1')]));
    expect(payloadOf([need('1')], installed)).toBe(
      payloadOf([need('1')], [...installed]),
    );
    expect(payloadOf([])).toEqual(
      buildJobPayload({ kind: 'install', patchRef: 'p', needs: [] }),
    );
  });
});
