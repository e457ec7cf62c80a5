import { diffRows, fold, rankedCandidate } from './fold';
import { candidateRank } from './verdict';

const key = {
  endpointId: 'e',
  patchRef: 'patch:default/p',
  package: 'openssl',
};

describe('fold', () => {
  it('folds the candidates of a key by rank, the least versions kept', () => {
    const rows = fold([
      {
        ...key,
        ecosystem: 'deb',
        installedVersion: '3.0.15',
        fixedVersion: '3.0.15',
        rank: candidateRank('deb', 'installed'),
      },
      {
        ...key,
        ecosystem: 'deb',
        installedVersion: '3.0.11',
        fixedVersion: '3.0.15',
        rank: candidateRank('deb', 'needed'),
      },
      {
        ...key,
        ecosystem: 'deb',
        installedVersion: 'garbage',
        fixedVersion: '3.0.15',
        rank: candidateRank('deb', 'unknown'),
      },
      {
        ...key,
        package: 'bash',
        ecosystem: 'deb',
        installedVersion: '5',
        fixedVersion: '5',
        rank: 1,
      },
    ]);
    expect(rows).toEqual([
      {
        ...key,
        ecosystem: 'deb',
        installedVersion: '3.0.11',
        fixedVersion: '3.0.15',
        state: 'needed',
      },
      {
        ...key,
        package: 'bash',
        ecosystem: 'deb',
        installedVersion: '5',
        fixedVersion: '5',
        state: 'installed',
      },
    ]);
  });

  it('lets a present KB beat a pending one, in any order', () => {
    const present = rankedCandidate({
      ...key,
      package: 'KB1',
      ecosystem: 'windows-kb',
      installedVersion: '1',
      fixedVersion: 'KB1',
      state: 'installed',
    });
    const pending = rankedCandidate({
      ...key,
      package: 'KB1',
      ecosystem: 'windows-kb',
      installedVersion: '',
      fixedVersion: 'KB1',
      state: 'needed',
    });
    expect(fold([present, pending])[0].state).toBe('installed');
    expect(fold([pending, present])[0].state).toBe('installed');
    expect(fold([pending])[0].state).toBe('needed');
  });
});

describe('diffRows', () => {
  const row = {
    ...key,
    ecosystem: 'deb',
    installedVersion: '1',
    fixedVersion: '2',
    state: 'needed' as const,
  };

  it('upserts new and changed rows, deletes rows no longer desired', () => {
    const gone = { ...row, package: 'gone' };
    const same = { ...row, package: 'same' };
    const changed = {
      ...row,
      state: 'installed' as const,
      installedVersion: '2',
    };
    const added = { ...row, package: 'new' };
    expect(diffRows([row, gone, same], [changed, same, added])).toEqual({
      upserted: [changed, added],
      deleted: [
        { endpointId: 'e', patchRef: 'patch:default/p', package: 'gone' },
      ],
    });
    expect(diffRows([row], [{ ...row }])).toEqual({
      upserted: [],
      deleted: [],
    });
  });
});
