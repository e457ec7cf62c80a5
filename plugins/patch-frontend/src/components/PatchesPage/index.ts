export { PatchesPage } from './PatchesPage';
