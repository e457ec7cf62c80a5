/*
 * When the reconcile pass for applicability events starts
 * (ApprovalService.reconcileSoon): nine times the last pass's length after
 * it when an event may have added needs, twenty times when every event
 * since only took needs away; an event that adds needs brings a later pass
 * forward, and every event until the pass starts shares it; after `stop`
 * (shutdown) none starts. The pass itself
 * is stubbed (it is tested against both databases in approvals.test.ts and
 * reconcileWrites.test.ts); here only its start is, on Jest's clock.
 */
import { ApprovalService } from './ApprovalService';
import { ApprovalServiceOptions } from './types';

const PASS_MS = 100;

function serviceWithPasses() {
  const service = new ApprovalService({
    settings: { approvers: 'owners', dueSoonDays: 3 },
  } as unknown as ApprovalServiceOptions);
  const starts: number[] = [];
  const reconciler = (
    service as unknown as {
      reconciler: { reconcileNow(now?: Date): Promise<unknown> };
    }
  ).reconciler;
  jest.spyOn(reconciler, 'reconcileNow').mockImplementation(async () => {
    starts.push(Date.now());
    jest.setSystemTime(Date.now() + PASS_MS);
    return { created: 0, autoApproved: 0, expired: 0, reopened: 0 };
  });
  return { service, starts };
}

describe('ApprovalService.reconcileSoon', () => {
  const T0 = 1_000_000;
  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('waits twenty passes when events only took needs away, nine when one added some', async () => {
    const { service, starts } = serviceWithPasses();
    // A first pass of 100 ms, ending at T0 + 100.
    await service.reconcileNow();
    const ended = T0 + PASS_MS;

    const away = service.reconcileSoon({ addsNeeds: false });
    const awayAgain = service.reconcileSoon({ addsNeeds: false });
    expect(awayAgain).toBe(away);
    await jest.advanceTimersByTimeAsync(ended + 20 * PASS_MS - 1 - Date.now());
    expect(starts).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    await away;
    expect(starts).toEqual([T0, ended + 20 * PASS_MS]);

    // The next: an event that takes needs away, then one that adds some,
    // which brings the pass forward to nine passes after the last.
    const lastEnded = Date.now();
    const first = service.reconcileSoon({ addsNeeds: false });
    await jest.advanceTimersByTimeAsync(PASS_MS);
    const second = service.reconcileSoon({ addsNeeds: true });
    expect(second).toBe(first);
    await jest.advanceTimersByTimeAsync(lastEnded + 9 * PASS_MS - Date.now());
    await second;
    expect(starts).toEqual([T0, ended + 20 * PASS_MS, lastEnded + 9 * PASS_MS]);
  });

  it('keeps the earlier start when a later event only takes needs away', async () => {
    const { service, starts } = serviceWithPasses();
    await service.reconcileNow();
    const ended = T0 + PASS_MS;
    const adds = service.reconcileSoon();
    const away = service.reconcileSoon({ addsNeeds: false });
    expect(away).toBe(adds);
    await jest.advanceTimersByTimeAsync(ended + 9 * PASS_MS - Date.now());
    await adds;
    expect(starts).toEqual([T0, ended + 9 * PASS_MS]);
  });
});

describe('ApprovalService.stop', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('drops the pass scheduled for events and starts none after (shutdown)', async () => {
    const { service, starts } = serviceWithPasses();
    await service.reconcileNow();
    const scheduled = service.reconcileSoon({ addsNeeds: false });
    await service.stop();
    // Its callers hear of it, with nothing done.
    await expect(scheduled).resolves.toEqual({
      created: 0,
      autoApproved: 0,
      expired: 0,
      reopened: 0,
    });
    const later = service.reconcileSoon();
    await jest.advanceTimersByTimeAsync(3_600_000);
    await later;
    expect(starts).toHaveLength(1);
  });
});
