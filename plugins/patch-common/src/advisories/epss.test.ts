import * as fs from 'fs';
import * as path from 'path';
import { enrichWithEpss, parseEpssCsv } from './epss';
import type { PatchEntity } from '../entities';

const dir = path.join(__dirname, '__fixtures__', 'epss');

const patch = (cves: string[]): PatchEntity => ({
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: { name: 'p' },
  spec: {
    type: 'security',
    severity: 'high',
    cves,
    targets: [
      {
        ecosystem: 'rpm',
        release: 'almalinux:9',
        package: 'git',
        fixedVersion: '2.47.3-1.el9_6',
      },
    ],
    owner: 'group:default/it-operations',
  },
});

describe('EPSS', () => {
  it('reads both renderings to the same figures', () => {
    const comma = parseEpssCsv(
      fs.readFileSync(path.join(dir, 'epss_sample.csv'), 'utf8'),
    );
    const semi = parseEpssCsv(
      fs.readFileSync(path.join(dir, 'epss_sample.semicolon.csv'), 'utf8'),
    );
    expect(comma.size).toBeGreaterThan(300);
    expect(semi).toEqual(comma);
    expect(comma.get('CVE-1999-0097')).toEqual({
      score: 0.0404,
      percentile: 0.8974,
    });
  });

  it("accepts FIRST's daily file with its comment line and skips junk", () => {
    const index = parseEpssCsv(
      '#model_version:v2025.03.14,score_date:2026-08-16T00:00:00+0000\ncve,epss,percentile\nCVE-2024-3094,0.84,0.99\nCVE-2024-0001,abc,0.1\nCVE-2024-0002,1.5,0.1\n',
    );
    expect([...index.keys()]).toEqual(['CVE-2024-3094']);
  });

  it('takes the fixed CVE with the highest score', () => {
    const index = parseEpssCsv(
      'CVE-2024-1001;0.1;0.5\nCVE-2024-1002;0.7;0.98\n',
    );
    const p = enrichWithEpss(
      patch(['CVE-2024-1001', 'CVE-2024-1002', 'CVE-2024-1003']),
      index,
    );
    expect(p.spec.epss).toEqual({
      score: 0.7,
      percentile: 0.98,
      cve: 'CVE-2024-1002',
    });
    expect(
      enrichWithEpss(patch(['CVE-2024-1003']), index).spec.epss,
    ).toBeUndefined();
  });
});
