export * from './sampling';
export * from './selector';
export * from './planning';
export * from './gates';
export * from './impact';
export * from './distribution';
export * from './representation';
