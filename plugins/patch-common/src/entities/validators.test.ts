import {
  isPatchEntity,
  isPilotGroupEntity,
  isRolloutPolicyEntity,
  patchEntityV1alpha1Validator,
  pilotGroupEntityV1alpha1Validator,
  rolloutPolicyEntityV1alpha1Validator,
  validatePatchEntity,
  validatePilotGroupEntity,
  validateRolloutPolicyEntity,
  EntityValidationError,
} from './index';

const patch = () => ({
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: { name: 'dsa-example-1' },
  spec: {
    type: 'security',
    severity: 'high',
    targets: [
      {
        ecosystem: 'deb',
        release: 'debian:12',
        package: 'openssl',
        fixedVersion: '3.0.15-1~deb12u1',
      },
    ],
    owner: 'group:default/it-operations',
  } as Record<string, any>,
});

const pilot = () => ({
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'PilotGroup',
  metadata: { name: 'pilot' },
  spec: {
    owner: 'group:default/it-operations',
    members: ['resource:default/ws-1'],
  } as Record<string, any>,
});

const policy = () => ({
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'RolloutPolicy',
  metadata: { name: 'standard' },
  spec: {
    owner: 'group:default/it-operations',
    rings: [
      {
        name: 'pilot',
        pilotGroup: 'pilotgroup:default/pilot',
        soakMinutes: 60,
        successThreshold: 0.95,
        failureLimit: 0.05,
        promotion: 'manual',
      },
      {
        name: 'broad',
        soakMinutes: 0,
        successThreshold: 0.98,
        failureLimit: 0.02,
        promotion: 'auto',
      },
    ],
    maintenanceWindows: [
      {
        name: 'nights',
        days: ['mon', 'tue'],
        start: '22:00',
        durationMinutes: 180,
        timeZone: 'Europe/Berlin',
      },
    ],
  } as Record<string, any>,
});

const fieldsOf = (r: { valid: boolean; errors: Array<{ field: string }> }) =>
  r.errors.map(e => e.field);

describe('Patch validation', () => {
  it('accepts a minimal patch', () => {
    expect(validatePatchEntity(patch()).valid).toBe(true);
  });

  it.each([
    ['spec.severity', (p: any) => (p.spec.severity = 'urgent')],
    ['spec.targets', (p: any) => (p.spec.targets = [])],
    [
      'spec.targets[0].fixedVersion',
      (p: any) => delete p.spec.targets[0].fixedVersion,
    ],
    [
      'spec.targets[0].fixedVersion',
      (p: any) => (p.spec.targets[0].fixedVersion = '1.0-'),
    ],
    [
      'spec.targets[0].ecosystem',
      (p: any) => (p.spec.targets[0].ecosystem = 'msi'),
    ],
    [
      'spec.targets[0].fixed_version',
      (p: any) => (p.spec.targets[0].fixed_version = '1'),
    ],
    ['spec.cves[0]', (p: any) => (p.spec.cves = ['CVE-24-1'])],
    [
      'spec.epss.score',
      (p: any) => (p.spec.epss = { score: 2, percentile: 0.5 }),
    ],
    ['spec.kevDueDate', (p: any) => (p.spec.kevDueDate = 'soon')],
    ['spec.owner', (p: any) => delete p.spec.owner],
    [
      'spec.targets[1]',
      (p: any) => p.spec.targets.push({ ...p.spec.targets[0] }),
    ],
    [
      'spec.targets[0].packageType',
      (p: any) => (p.spec.targets[0].packageType = 'src'),
    ],
    [
      'spec.targets[0].binaries[0]',
      (p: any) => {
        p.spec.targets[0].packageType = 'source';
        p.spec.targets[0].binaries = [''];
      },
    ],
    [
      'spec.targets[0].binaries',
      (p: any) => (p.spec.targets[0].binaries = ['libssl3']),
    ],
  ])('names %s when it is wrong', (field, mutate) => {
    const p = patch();
    mutate(p);
    const r = validatePatchEntity(p);
    expect(r.valid).toBe(false);
    expect(fieldsOf(r)).toContain(field);
  });

  it('accepts source targets with binaries, and a source and a binary target of one name', () => {
    const p = patch();
    p.spec.targets = [
      {
        ecosystem: 'deb',
        release: 'ubuntu:22.04',
        package: 'openssl',
        packageType: 'source',
        binaries: ['libssl3', 'openssl'],
        fixedVersion: '3.0.2-0ubuntu1.18',
      },
      {
        ecosystem: 'deb',
        release: 'ubuntu:22.04',
        package: 'openssl',
        packageType: 'binary',
        fixedVersion: '3.0.2-0ubuntu1.18',
      },
    ];
    expect(validatePatchEntity(p)).toEqual({ valid: true, errors: [] });
  });

  it('check() returns false for other kinds and throws naming the field', async () => {
    await expect(
      patchEntityV1alpha1Validator.check({
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'Component',
      }),
    ).resolves.toBe(false);
    await expect(patchEntityV1alpha1Validator.check(patch())).resolves.toBe(
      true,
    );
    const bad = patch();
    bad.spec.severity = 'urgent';
    await expect(patchEntityV1alpha1Validator.check(bad)).rejects.toThrow(
      EntityValidationError,
    );
    await expect(patchEntityV1alpha1Validator.check(bad)).rejects.toThrow(
      /spec\.severity must be one of/,
    );
  });
});

describe('PilotGroup validation', () => {
  it('accepts members or a selector, and refuses neither', () => {
    expect(validatePilotGroupEntity(pilot()).valid).toBe(true);
    const s = pilot();
    delete s.spec.members;
    s.spec.selector = { labels: { location: 'berlin' }, os: ['debian:12'] };
    expect(validatePilotGroupEntity(s).valid).toBe(true);
    const none = pilot();
    delete none.spec.members;
    const r = validatePilotGroupEntity(none);
    expect(r.valid).toBe(false);
    expect(fieldsOf(r)).toEqual(expect.arrayContaining(['spec.members']));
  });

  it('selects by business tier, 1 and up', () => {
    const p = pilot();
    p.spec.selector = { tiers: [2, 3] };
    expect(validatePilotGroupEntity(p).valid).toBe(true);
    p.spec.selector = { tiers: [0] };
    expect(fieldsOf(validatePilotGroupEntity(p))).toEqual(
      expect.arrayContaining(['spec.selector.tiers[0]']),
    );
  });

  it('names sampling and selector fields', () => {
    const p = pilot();
    p.spec.sampling = { percent: 150 };
    p.spec.selector = { os: ['Debian 12'] };
    expect(fieldsOf(validatePilotGroupEntity(p))).toEqual(
      expect.arrayContaining(['spec.sampling.percent', 'spec.selector.os[0]']),
    );
  });
});

describe('RolloutPolicy validation', () => {
  it('accepts a policy with rings and windows', () => {
    expect(validateRolloutPolicyEntity(policy())).toEqual({
      valid: true,
      errors: [],
    });
  });

  it.each([
    [
      'spec.rings[0].promotion',
      (p: any) => (p.spec.rings[0].promotion = 'sometimes'),
    ],
    [
      'spec.rings[0].failureLimit',
      (p: any) => (p.spec.rings[0].failureLimit = 5),
    ],
    ['spec.rings[1].name', (p: any) => (p.spec.rings[1].name = 'pilot')],
    [
      'spec.rings[0].selector',
      (p: any) => (p.spec.rings[0].selector = { os: ['debian'] }),
    ],
    [
      'spec.maintenanceWindows[0].start',
      (p: any) => (p.spec.maintenanceWindows[0].start = '25:00'),
    ],
    [
      'spec.maintenanceWindows[0].timeZone',
      (p: any) => (p.spec.maintenanceWindows[0].timeZone = 'Mars/Olympus'),
    ],
    [
      'spec.changeFreezes[0].to',
      (p: any) =>
        (p.spec.changeFreezes = [
          { from: '2026-12-24T00:00:00Z', to: '2026-12-20T00:00:00Z' },
        ]),
    ],
    [
      'spec.approval.slaDays.critical',
      (p: any) => (p.spec.approval = { slaDays: { critical: -1 } }),
    ],
    [
      'spec.approval.stages[0].group',
      (p: any) => (p.spec.approval = { stages: [{ name: 'sec' }] }),
    ],
  ])('names %s when it is wrong', (field, mutate) => {
    const p = policy();
    mutate(p);
    const r = validateRolloutPolicyEntity(p);
    expect(r.valid).toBe(false);
    expect(fieldsOf(r)).toContain(field);
  });

  it('check() throws naming the field', async () => {
    const p = policy();
    p.spec.rings = [];
    await expect(rolloutPolicyEntityV1alpha1Validator.check(p)).rejects.toThrow(
      /spec\.rings/,
    );
    await expect(
      pilotGroupEntityV1alpha1Validator.check(pilot()),
    ).resolves.toBe(true);
  });
});

describe('type guards', () => {
  it('tell the kinds apart by apiVersion and kind', () => {
    expect(isPatchEntity(patch() as any)).toBe(true);
    expect(isPatchEntity(pilot() as any)).toBe(false);
    expect(isPilotGroupEntity(pilot() as any)).toBe(true);
    expect(isRolloutPolicyEntity(policy() as any)).toBe(true);
    expect(
      isRolloutPolicyEntity({ ...policy(), apiVersion: 'other/v1' } as any),
    ).toBe(false);
    expect(isPatchEntity(undefined)).toBe(false);
  });
});
