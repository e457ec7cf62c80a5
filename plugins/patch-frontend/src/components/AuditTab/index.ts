export { AuditTab, AuditExportButtons } from './AuditTab';
