import { screen, waitFor } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { AuditTab } from './AuditTab';
import { renderPatchUi } from '../../__testUtils__/render';
import { auditEvents } from '../../__testUtils__/fixtures';

const userEvent = userEventLib.setup({ delay: null });
jest.setTimeout(90_000);

describe('AuditTab', () => {
  it('lists the trail and searches it', async () => {
    const api = {
      queryAudit: jest.fn().mockResolvedValue({ items: auditEvents }),
    };
    await renderPatchUi(<AuditTab />, { api });
    expect(await screen.findByText('user:default/bob')).toBeInTheDocument();
    expect(screen.getByText('denied')).toBeInTheDocument();
    // An entity ref may wrap after its "/" in the narrow message column,
    // never inside a word (a long ref used to be cut anywhere).
    const who = screen.getByText('user:default/bob');
    expect(who.innerHTML).toBe('user:default/<wbr>bob');
    await userEvent.type(
      screen.getByRole('textbox', { name: 'Search' }),
      'bob',
    );
    await waitFor(() =>
      expect(api.queryAudit).toHaveBeenLastCalledWith(
        expect.objectContaining({ q: 'bob' }),
      ),
    );
  });

  it('exports the trail as CSV', async () => {
    const api = {
      queryAudit: jest.fn().mockResolvedValue({ items: auditEvents }),
      exportAudit: jest.fn().mockResolvedValue(new Blob(['a,b\n'])),
    };
    // jsdom implements neither; the download itself is the browser's job.
    URL.createObjectURL = jest.fn(() => 'blob:x');
    URL.revokeObjectURL = jest.fn();
    await renderPatchUi(<AuditTab />, { api });
    const csv = await screen.findByRole('button', { name: 'Export CSV' });
    await waitFor(() => expect(csv).toBeEnabled());
    await userEvent.click(csv);
    await waitFor(() =>
      expect(api.exportAudit).toHaveBeenCalledWith(
        expect.objectContaining({ limit: undefined }),
        'csv',
      ),
    );
  });

  it('disables export without patch.audit.read', async () => {
    const api = {
      queryAudit: jest.fn().mockResolvedValue({ items: auditEvents }),
    };
    await renderPatchUi(<AuditTab />, { api, deny: ['patch.audit.read'] });
    for (const name of ['Export CSV', 'Export JSON']) {
      const button = await screen.findByRole('button', { name });
      await waitFor(() => expect(button).toBeDisabled());
    }
  });
});
