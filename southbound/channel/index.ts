export * from './framer';
export * from './connection';
export * from './server';
export * from './identity';
