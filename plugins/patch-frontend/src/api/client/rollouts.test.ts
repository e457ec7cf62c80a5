/**
 * @jest-environment node
 */
import { DefaultPatchApi } from '../DefaultPatchApi';
import { backstageLikeFetch, discoveryApi } from './__testUtils__/fixtures';

describe('DefaultPatchApi', () => {
  it('maps a rollout: waves, counts in four buckets, the gate and the series', async () => {
    const { fetch } = backstageLikeFetch({
      'GET /api/patch/rollouts/ro1': () => ({
        id: 'ro1',
        patchRef: 'patch:default/expat',
        policyRef: 'rolloutpolicy:default/standard',
        state: 'running',
        emergency: false,
        currentRing: 0,
        ringCount: 2,
        rings: ['pilot', 'broad'],
        createdBy: 'user:default/guest',
        createdAt: '2026-11-26T00:00:00Z',
        updatedAt: '2026-11-26T00:00:00Z',
        waves: [
          {
            id: 'w1',
            ring: 'pilot',
            index: 0,
            state: 'soaking',
            size: 10,
            soakUntil: '2026-11-26T01:00:00Z',
            // As the rollout driver stores it (toGateJson).
            gate: {
              decision: 'wait',
              reason: 'soaking',
              finished: 9,
              failed: 1,
              failureRate: 0.111,
              lowerBound: 0.02,
              upperBound: 0.43,
              confidence: 0.95,
              failureLimit: 0.2,
              minSample: 3,
              counts: { succeeded: 8, failed: 1 },
              evaluatedAt: '2026-11-26T00:59:00Z',
            },
            counts: {
              undispatched: 0,
              queued: 0,
              leased: 1,
              running: 0,
              succeeded: 8,
              awaitingVerification: 0,
              failed: 1,
              expired: 0,
              cancelled: 0,
            },
          },
        ],
        progress: {
          planned: 30,
          verified: 8,
          failed: 1,
          awaitingVerification: 0,
          remaining: 21,
          percent: 26.6,
        },
        gates: [],
        // As RolloutService.detail lists them: opened or given up, then
        // those waiting in the outbox.
        tickets: [
          {
            waveId: 'w1',
            connector: 'webhook',
            reference: 'INC-7',
            outcome: 'opened',
            message: null,
            createdAt: '2026-11-26T00:30:00Z',
          },
          {
            waveId: 'w1',
            connector: 'jira',
            reference: null,
            outcome: 'pending',
            attempts: 2,
            nextAttemptAt: '2026-11-26T00:32:00Z',
            message: 'HTTP 503',
            createdAt: '2026-11-26T00:30:00Z',
          },
        ],
        timeSeries: {
          bucketSeconds: 60,
          points: [
            {
              at: '2026-11-26T00:01:00Z',
              succeeded: 8,
              failed: 1,
              rolledBack: 0,
            },
          ],
        },
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    const r = await api.getRollout('ro1');
    expect(r.patchRefs).toEqual(['patch:default/expat']);
    expect(r.total).toBe(10);
    expect(r.counts).toEqual({
      queued: 0,
      running: 1,
      succeeded: 8,
      awaitingVerification: 0,
      failed: 1,
      cancelled: 0,
    });
    // Over every planned endpoint, as the backend computes it.
    expect(r.progress).toEqual({
      planned: 30,
      verified: 8,
      failed: 1,
      awaitingVerification: 0,
      remaining: 21,
      percent: 26.6,
    });
    expect(r.waves[0].gate).toEqual({
      decision: 'wait',
      reason: 'soaking',
      finished: 9,
      failed: 1,
      failureRate: 0.111,
      lower: 0.02,
      upper: 0.43,
      confidence: 0.95,
      limit: 0.2,
      minSample: 3,
      soakUntil: '2026-11-26T01:00:00Z',
      evaluatedAt: '2026-11-26T00:59:00Z',
    });
    expect(r.series).toEqual([
      { at: '2026-11-26T00:01:00Z', succeeded: 8, failed: 1 },
    ]);
    expect(r.tickets).toEqual([
      {
        waveId: 'w1',
        ring: 'pilot',
        connector: 'webhook',
        reference: 'INC-7',
        outcome: 'opened',
        message: undefined,
        attempts: undefined,
        nextAttemptAt: undefined,
        createdAt: '2026-11-26T00:30:00Z',
      },
      {
        waveId: 'w1',
        ring: 'pilot',
        connector: 'jira',
        reference: undefined,
        outcome: 'pending',
        message: 'HTTP 503',
        attempts: 2,
        nextAttemptAt: '2026-11-26T00:32:00Z',
        createdAt: '2026-11-26T00:30:00Z',
      },
    ]);
  });

  it('sends a rollout control to its action route with the reason', async () => {
    const { fetch, seen } = backstageLikeFetch({
      'POST /api/patch/rollouts/ro1/actions/pause': () => ({
        id: 'ro1',
        patchRef: 'p',
        policyRef: 'q',
        state: 'paused',
        emergency: false,
        currentRing: 0,
        ringCount: 1,
        rings: ['pilot'],
        createdBy: 'u',
        createdAt: 'x',
        updatedAt: 'x',
        waves: [],
        gates: [],
        tickets: [],
        timeSeries: { bucketSeconds: 60, points: [] },
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    const r = await api.controlRollout('ro1', 'pause', 'change freeze');
    expect(r.state).toBe('paused');
    expect(seen[0].body).toEqual({ reason: 'change freeze' });
  });

  it("rolls back one ring through the rollback action, and reads each ring's rollback", async () => {
    const rollback = {
      endpoints: 3,
      inFlight: 0,
      awaitingVerification: 1,
      verified: 2,
      failed: 0,
      failedEndpoints: [],
    };
    const { fetch, seen } = backstageLikeFetch({
      'POST /api/patch/rollouts/ro1/actions/rollback': () => ({
        id: 'ro1',
        patchRef: 'p',
        policyRef: 'q',
        state: 'rolling_back',
        emergency: false,
        currentRing: 1,
        ringCount: 2,
        rings: ['pilot', 'broad'],
        createdBy: 'u',
        createdAt: 'x',
        updatedAt: 'x',
        waves: [
          {
            id: 'w1',
            ring: 'pilot',
            index: 0,
            state: 'passed',
            size: 3,
            rollbackState: 'dispatched',
            rollback,
            counts: {
              undispatched: 0,
              queued: 0,
              held: 0,
              leased: 0,
              running: 0,
              succeeded: 3,
              failed: 0,
              expired: 0,
              cancelled: 0,
            },
          },
        ],
        gates: [],
        tickets: [],
        timeSeries: { bucketSeconds: 60, points: [] },
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    const r = (await api.rollbackRing('ro1', 0, 'regression')) as any;
    expect(seen[0].body).toEqual({ ring: 0, reason: 'regression' });
    expect(r.state).toBe('rolling_back');
    expect(r.waves[0]).toMatchObject({ rollbackState: 'dispatched', rollback });
  });
});
