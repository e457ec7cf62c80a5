/*
 * The enrollment phase of the simulated fleet (agents.ts) and of the
 * focused enrollment measure (enrollMain.ts): `count` agents exchange one
 * token (`maxUses` N) for their credentials through `POST /agent/v1/enroll`,
 * with `concurrency` enrollments in flight at once, as a fleet whose agents
 * are installed and started together (a configuration-management push, a
 * golden image booting) sends them: many at a time, not one after another.
 *
 * What counts: `enrolled` is the agents that got credentials (201), and the
 * rate is `enrolled` over the time from the first request to the last
 * success; nothing else is counted as an enrollment. An answer that the real
 * agent would retry is retried and counted apart: a 429 (the
 * authentication-failure limit, `patch.agent.authFailures`, which a healthy
 * fleet never reaches) after its `Retry-After`, a 5xx or a network error
 * after a short backoff, a few times. A refusal (401, 400) is not retried:
 * the agent is counted as failed, and the run goes on without it.
 */
import { Answer, FleetHttp, quantile } from './http';

/** What an enrollment phase did. */
export interface EnrollOutcome {
  /** Agents that got credentials. */
  enrolled: number;
  /** Agents that did not (refused, or still failing after the retries). */
  failed: number;
  /** 429 answers (each retried after its Retry-After). */
  limited: number;
  /** 5xx answers and network errors (each retried after a backoff). */
  errors: number;
  /** From the first request to the last success, seconds. */
  seconds: number;
  /** Successful enrollments per second (`enrolled / seconds`). */
  perSecond: number;
  /** Latency of the successful requests, ms. */
  p50Ms: number;
  p99Ms: number;
  /** The first failure's answer, for the log. */
  firstFailure?: string;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Most attempts of one agent after 5xx answers or network errors. */
const MAX_ERROR_ATTEMPTS = 10;
/** Most 429 answers one agent waits out. */
const MAX_LIMITED_ATTEMPTS = 100;

/**
 * Enrolls agents `from` to `from + count - 1` (machine id `fleet-<i>`), `concurrency`
 * at a time; calls `onEnrolled` with each one's Authorization header.
 */
export async function enrollAgents(
  http: FleetHttp,
  options: {
    token: string;
    count: number;
    /** Index of the first agent (default 0). */
    from?: number;
    concurrency: number;
    onEnrolled?: (i: number, auth: string, machineId: string) => void;
  },
): Promise<EnrollOutcome> {
  const { token } = options;
  const from = options.from ?? 0;
  const end = from + options.count;
  const t0 = Date.now();
  let lastSuccess = t0;
  let next = from;
  const latencies: number[] = [];
  const outcome = { enrolled: 0, failed: 0, limited: 0, errors: 0 };
  let firstFailure: string | undefined;

  async function enrollOne(i: number): Promise<void> {
    const machineId = `fleet-${i}`;
    const body = JSON.stringify({
      token,
      machineId,
      hostname: `fleet-${i}.bench`,
      os: { family: 'debian', name: 'debian', version: '12' },
      agentVersion: 'fleet-bench',
    });
    let errorAttempts = 0;
    let limitedAttempts = 0;
    for (;;) {
      let res: Answer | undefined;
      let failure: string;
      try {
        res = await http.request('POST', '/agent/v1/enroll', body);
        failure = `${res.status} ${res.body.slice(0, 200)}`;
      } catch (error) {
        failure = String(error);
      }
      if (res && (res.status === 201 || res.status === 200)) {
        const { agentId, secret } = JSON.parse(res.body);
        outcome.enrolled++;
        latencies.push(res.ms);
        lastSuccess = Date.now();
        options.onEnrolled?.(i, `Agent ${agentId}.${secret}`, machineId);
        return;
      }
      if (res?.status === 429 && ++limitedAttempts < MAX_LIMITED_ATTEMPTS) {
        outcome.limited++;
        await sleep((res.retryAfter ?? 1) * 1000 * (0.5 + Math.random()));
        continue;
      }
      const retriable = !res || res.status >= 500;
      if (retriable && ++errorAttempts < MAX_ERROR_ATTEMPTS) {
        outcome.errors++;
        await sleep(Math.min(10_000, 500 * errorAttempts));
        continue;
      }
      outcome.failed++;
      firstFailure ??= `enroll ${i}: ${failure}`;
      return;
    }
  }

  await Promise.all(
    Array.from({ length: Math.max(1, options.concurrency) }, async () => {
      while (next < end) await enrollOne(next++);
    }),
  );
  const seconds = Math.max(0.001, (lastSuccess - t0) / 1000);
  return {
    ...outcome,
    seconds,
    perSecond: outcome.enrolled / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    firstFailure,
  };
}
