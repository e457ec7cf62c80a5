import { FleetResult } from './run';

export function renderChart(_r: FleetResult): { svg: string; png: Buffer } {
  return { svg: '', png: Buffer.alloc(0) };
}
