import { join } from 'node:path';
import { AgentConfig } from '../config';
import { AptProvider } from './apt';
import { DnfProvider } from './dnf';
import { SimulatedProvider } from './simulated';
import { PatchProvider } from './types';
import { WindowsProvider } from './windows';

export * from './types';
export * from './exec';
export * from './aptParsers';
export * from './dnfParsers';
export * from './windowsParsers';
export { AptProvider } from './apt';
export type { AptProviderOptions } from './apt';
export { DnfProvider } from './dnf';
export type { DnfProviderOptions } from './dnf';
export { WindowsProvider } from './windows';
export type { WindowsProviderOptions } from './windows';
export { SimulatedProvider, seededRandom } from './simulated';
export type { SimulatedProviderOptions } from './simulated';

/**
 * Builds the provider the configuration names; `auto` takes the first that
 * detects itself (apt, dnf, windows).
 * @public
 */
export async function createProvider(
  config: AgentConfig,
): Promise<PatchProvider> {
  const make = {
    apt: () => new AptProvider(config.apt),
    dnf: () => new DnfProvider(config.dnf),
    windows: () => new WindowsProvider(config.windows),
    simulated: () =>
      new SimulatedProvider({
        ...config.simulated,
        hostname: config.hostname,
        stateFile: config.simulated.persist
          ? join(config.stateDir, 'simulated-packages.json')
          : undefined,
      }),
  };
  if (config.provider !== 'auto') {
    return make[config.provider]();
  }
  for (const name of ['apt', 'dnf', 'windows'] as const) {
    const provider = make[name]();
    if (await provider.detect()) return provider;
  }
  throw new Error(
    'No supported package manager found (apt, dnf or Windows Update); set "provider" in the configuration.',
  );
}
