export * from './riskScore';
