import { cvssFromVector, severityFromCvss } from './cvss';

describe('cvssFromVector', () => {
  it.each([
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H', 8.1],
    ['CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N', 5.5],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0],
    ['AV:N/AC:L/Au:N/C:P/I:P/A:P', 7.5],
    ['AV:N/AC:M/Au:N/C:N/I:P/A:N', 4.3],
  ])('%s scores %d', (vector, score) => {
    expect(cvssFromVector(vector)?.score).toBe(score);
  });

  it('gives up on v4 and malformed vectors', () => {
    expect(
      cvssFromVector(
        'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N',
      ),
    ).toBeUndefined();
    expect(cvssFromVector('CVSS:3.1/AV:X')).toBeUndefined();
  });

  it('bands scores like CVSS v3', () => {
    expect([9, 7, 4, 3.9].map(severityFromCvss)).toEqual([
      'critical',
      'high',
      'medium',
      'low',
    ]);
  });
});
