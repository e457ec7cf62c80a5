/**
 * The Patchbay endpoint agent: a daemon and a CLI (`patch-agent`), and
 * `createAgent` to run agents in-process (demo fleets, load tests).
 *
 * @packageDocumentation
 */

export { createAgent, AGENT_VERSION } from './Agent';
export type { CreateAgentOptions, PatchAgent, AgentStatus } from './Agent';
export { runCli } from './cli';
export {
  loadConfig,
  agentConfigSchema,
  ConfigError,
  DEFAULT_CONFIG_FILE,
  CONFIG_ENV,
} from './config';
export type { AgentConfig, AgentConfigInput } from './config';
export { enroll, EnrollError } from './enroll';
export type { AgentEvents } from './events';
export { TypedEmitter } from './events';
export {
  AgentApi,
  ApiError,
  normalizeBackendUrl,
  parseRetryAfter,
} from './http/AgentApi';
export type { AgentApiOptions } from './http/AgentApi';
export { createLogger, silentLogger } from './logger';
export type { AgentLogger, LoggerOptions, LogLevel } from './logger';
export * from './providers';
export { downloadArtifact, ChecksumError } from './download/download';
export type { Artifact, DownloadOptions } from './download/download';
export { TokenBucket, abortableSleep } from './download/TokenBucket';
export { StateDir, StateError } from './state/StateDir';
export type { AgentCredentials } from './state/StateDir';
export { Outbox } from './state/Outbox';
export type { OutboxEntry, JobResult, LeasedJob } from './state/Outbox';
export { executeJob, recoverResult } from './jobs/executeJob';
export type { JobContext } from './jobs/executeJob';
