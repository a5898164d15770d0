// The two bridges' pipelines, their fields and their cookies.
export * from './declaration';
export * from './cookie';
export * from './fields';
export * from './br-int';
export * from './br-phy';
