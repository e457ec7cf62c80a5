import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingExec } from '../__testUtils__/recordingExec';
import { WindowsProvider } from './windows';

const fixture = (name: string) =>
  readFileSync(join(__dirname, '../../fixtures/windows', name), 'utf8');

describe('WindowsProvider (recorded PowerShell)', () => {
  it('reads KBs and pending updates through PowerShell', async () => {
    const exec = recordingExec([
      [/Get-HotFix \| Select/, { stdout: fixture('get-hotfix.ps51.json') }],
      [/Microsoft\.Update\.Session/, { stdout: fixture('wua-search.json') }],
    ]);
    const win = new WindowsProvider({ exec });
    expect((await win.inventory()).map(p => p.name)).toEqual([
      'KB5031589',
      'KB5032005',
    ]);
    expect((await win.pendingUpdates()).map(p => p.name)).toEqual([
      'KB5033375',
      'KB5032007',
    ]);
    expect(exec.calls[0].slice(0, 3)).toEqual([
      'powershell.exe',
      '-NoProfile',
      '-NonInteractive',
    ]);
  });

  it('installs with PSWindowsUpdate or wusa, verifies presence, and uninstalls with wusa', async () => {
    let present = false;
    const exec = recordingExec([]);
    const wrapped = (async (cmd: string, args: string[], opts?: any) => {
      const line = [cmd, ...args].join(' ');
      if (/Get-HotFix -Id KB5033375/.test(line)) {
        exec.calls.push([cmd, ...args]);
        return {
          code: 0,
          stdout: present
            ? fixture('get-hotfix.single.json').replace(
                'KB5032005',
                'KB5033375',
              )
            : '',
          stderr: '',
        };
      }
      if (/Install-WindowsUpdate|wusa\.exe (?!\/uninstall)/.test(line))
        present = true;
      if (/\/uninstall/.test(line)) present = false;
      return exec(cmd, args, opts);
    }) as any;
    const win = new WindowsProvider({ exec: wrapped });
    await win.install('kb5033375', 'present');
    expect((await win.verify('KB5033375', 'present')).ok).toBe(true);
    await win.rollback('KB5033375', 'absent');
    expect(
      exec.calls.some(c =>
        c
          .join(' ')
          .includes('wusa.exe /uninstall /kb:5033375 /quiet /norestart'),
      ),
    ).toBe(true);
    expect((await win.verify('KB5033375', 'absent')).ok).toBe(true);
    await win.install('KB5033375', 'present', {
      artifactPath: 'C:\\dl\\windows11.0-kb5033375-x64.msu',
    });
    expect(exec.calls.at(-1)).toEqual([
      'wusa.exe',
      'C:\\dl\\windows11.0-kb5033375-x64.msu',
      '/quiet',
      '/norestart',
    ]);
  });

  it('refuses anything that is not a KB id', async () => {
    const win = new WindowsProvider({ exec: recordingExec([]) });
    await expect(
      win.install('KB1; Remove-Item C:\\', 'present'),
    ).rejects.toThrow(/not a KB/);
  });
});
