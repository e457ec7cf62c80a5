import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { ReportsTab } from './ReportsTab';
import { renderPatchUi } from '../../__testUtils__/render';
import type { ComplianceReport } from '../../api';

const userEvent = userEventLib.setup({ delay: null });

jest.setTimeout(90_000);

// recharts measures its container; jsdom has none.
class ResizeObserverStub {
  observe() {}
  unobserve() {}
  disconnect() {}
}
(globalThis as any).ResizeObserver ??= ResizeObserverStub;

const report: ComplianceReport = {
  groupBy: 'system',
  computedAt: '2026-11-26T09:00:00.000Z',
  rows: [
    {
      entityRef: 'system:default/payments',
      title: 'Payments',
      endpoints: 4,
      compliance: 0.5,
      unknown: 1,
      missingBySeverity: { critical: 1, high: 2, medium: 0, low: 0 },
      overdue: 1,
      excepted: 3,
      meanTimeToPatchDays: 2.5,
    },
  ],
  trend: [],
};

describe('ReportsTab', () => {
  it('shows the excepted installs beside the missing ones, and what they mean', async () => {
    const api = { getComplianceReport: jest.fn().mockResolvedValue(report) };
    await renderPatchUi(<ReportsTab />, { api });
    const cell = await screen.findByLabelText('3 excepted');
    const row = cell.closest('tr') as HTMLElement;
    expect(within(row).getByText('1 / 2 / 0 / 0')).toBeInTheDocument();
    expect(api.getComplianceReport).toHaveBeenCalledWith('system');
    const header = screen.getByRole('columnheader', { name: /Excepted/ });
    await userEvent.hover(within(header).getByText('Excepted'));
    expect(
      await screen.findByRole('tooltip', { name: /missing \+ excepted/ }),
    ).toBeInTheDocument();
    expect(
      screen.getByText(/^Excepted: Needed installs under an active risk/),
    ).toBeInTheDocument();
  });

  it('shows unknown endpoints in their own column, never in the compliant share', async () => {
    const api = { getComplianceReport: jest.fn().mockResolvedValue(report) };
    await renderPatchUi(<ReportsTab />, { api });
    const cell = await screen.findByLabelText('1 unknown');
    const row = cell.closest('tr') as HTMLElement;
    // 4 endpoints: 2 compliant (50 %), 1 unknown, 1 missing a patch.
    expect(within(row).getByText('50%')).toBeInTheDocument();
    const header = screen.getByRole('columnheader', { name: /Unknown/ });
    await userEvent.hover(within(header).getByText('Unknown'));
    expect(
      await screen.findByRole('tooltip', {
        name: /never counted as compliant/,
      }),
    ).toBeInTheDocument();
    expect(
      screen.getByText(/^Unknown: Endpoints that miss no patch/),
    ).toBeInTheDocument();
  });

  it('exports the chosen report as JSON', async () => {
    const api = {
      getComplianceReport: jest.fn().mockResolvedValue(report),
      exportReport: jest.fn().mockResolvedValue(new Blob(['[]'])),
    };
    // jsdom implements neither; the download itself is the browser's job.
    URL.createObjectURL = jest.fn(() => 'blob:x');
    URL.revokeObjectURL = jest.fn();
    await renderPatchUi(<ReportsTab />, { api });
    await screen.findByLabelText('3 excepted');
    await userEvent.click(
      screen.getByRole('button', { name: /Compliance per node/ }),
    );
    await userEvent.click(
      await screen.findByRole('option', {
        name: 'Missing patches per endpoint',
      }),
    );
    await userEvent.click(screen.getByRole('button', { name: 'Export JSON' }));
    await waitFor(() =>
      expect(api.exportReport).toHaveBeenCalledWith('missing', 'json'),
    );
    expect(URL.createObjectURL).toHaveBeenCalled();
  });
});
