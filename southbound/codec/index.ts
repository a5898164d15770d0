// The OpenFlow 1.3 codec: the only module that knows OpenFlow bytes.
export * from './errors';
export * from './buffer';
export * from './oxm';
export * from './match';
export * from './actions';
export * from './instructions';
export * from './structs';
export * from './multipart';
export * from './messages';
