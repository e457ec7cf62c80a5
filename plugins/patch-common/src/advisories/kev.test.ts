import * as fs from 'fs';
import * as path from 'path';
import {
  enrichWithKev,
  parseCsv,
  parseKev,
  parseKevCsv,
  parseKevJson,
} from './kev';
import type { PatchEntity } from '../entities';

const dir = path.join(__dirname, '__fixtures__', 'kev');
const json = fs.readFileSync(
  path.join(dir, 'known_exploited_vulnerabilities.json'),
  'utf8',
);
const csv = fs.readFileSync(
  path.join(dir, 'known_exploited_vulnerabilities.csv'),
  'utf8',
);

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
        ecosystem: 'deb',
        release: 'debian:12',
        package: 'git',
        fixedVersion: '1:2.39.5-0+deb12u2',
      },
    ],
    owner: 'group:default/it-operations',
  },
});

describe('KEV', () => {
  it('reads the JSON and the CSV catalog to the same entries', () => {
    const a = parseKevJson(JSON.parse(json));
    const b = parseKevCsv(csv);
    expect(a.size).toBe(150);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect(b.get('CVE-2025-48384')).toEqual(a.get('CVE-2025-48384'));
    expect(parseKev(json).size).toBe(150);
    expect(parseKev(csv).size).toBe(150);
  });

  it('marks a patch known exploited with the earliest due date', () => {
    const kev = parseKev(json);
    const [first, second] = [...kev.values()];
    const p = enrichWithKev(
      patch([first.cveID, second.cveID, 'CVE-2000-0001']),
      kev,
    );
    expect(p.spec.knownExploited).toBe(true);
    expect(p.spec.kevDueDate).toBe([first.dueDate, second.dueDate].sort()[0]);
    const q = enrichWithKev(patch(['CVE-2000-0001']), kev);
    expect(q.spec.knownExploited).toBe(false);
    expect(q.spec.kevDueDate).toBeUndefined();
  });

  it('refuses a document that is not a catalog', () => {
    expect(() => parseKevJson({ title: 'x' })).toThrow(
      /no vulnerabilities list/,
    );
    expect(() => parseKevCsv('a,b\n1,2\n')).toThrow(/no cveID column/);
  });

  it('parses quoted CSV fields with commas, quotes and line breaks', () => {
    expect(parseCsv('a,"b,c","d ""e""",f\n"g\nh",i\r\n')).toEqual([
      ['a', 'b,c', 'd "e"', 'f'],
      ['g\nh', 'i'],
    ]);
  });
});
