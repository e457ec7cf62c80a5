import { EventEmitter } from 'node:events';
import type { PatchApiSchemas } from '@patchbay/plugin-patch-common';
import { JobResult, LeasedJob } from './state/Outbox';

/**
 * The agent's lifecycle events and their payloads.
 * @public
 */
export interface AgentEvents {
  'agent:start': { agentId: string };
  'agent:stop': { agentId: string };
  'checkin:success': {
    response: PatchApiSchemas['CheckInResponse'];
    nextDelayMs: number;
  };
  'checkin:error': {
    error: Error;
    consecutiveErrors: number;
    nextDelayMs: number;
  };
  'inventory:sent': {
    hash: string;
    packages: number;
    pending: number;
    /** Sent as a change to the stored inventory: records added and removed. */
    change?: { added: number; removed: number };
  };
  'job:start': { job: LeasedJob };
  'job:deferred': { job: LeasedJob; reason: string; nextWindowStart?: Date };
  'job:skipped': { job: LeasedJob; reason: string };
  'job:complete': { job: LeasedJob; result: JobResult };
  'job:recovered': { jobId: string; attempt: number; result: JobResult };
  'result:acknowledged': {
    jobId: string;
    attempt: number;
    state: string;
    duplicate: boolean;
  };
  'result:rejected': { jobId: string; attempt: number; reason: string };
  'result:queued': { jobId: string; attempt: number; reason: string };
}

/**
 * An EventEmitter whose event names and payloads are checked by the compiler.
 * @public
 */
export class TypedEmitter<E extends { [K in keyof E]: unknown }> {
  private readonly emitter = new EventEmitter();

  on<K extends keyof E & string>(
    event: K,
    listener: (payload: E[K]) => void,
  ): this {
    this.emitter.on(event, listener);
    return this;
  }

  once<K extends keyof E & string>(
    event: K,
    listener: (payload: E[K]) => void,
  ): this {
    this.emitter.once(event, listener);
    return this;
  }

  off<K extends keyof E & string>(
    event: K,
    listener: (payload: E[K]) => void,
  ): this {
    this.emitter.off(event, listener);
    return this;
  }

  emit<K extends keyof E & string>(event: K, payload: E[K]): void {
    this.emitter.emit(event, payload);
  }
}
