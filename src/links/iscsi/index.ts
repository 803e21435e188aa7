// Public API of the embedded iSCSI target link.
export { IscsiServer } from './server.ts';
export type { IscsiServerOptions, IscsiServerStats, IscsiTargetConfig } from './server.ts';
export type { LogFn, LogLevel, Counters } from './context.ts';
export type { DigestName, SessionParams, TargetOffer } from './keys.ts';
export { DEFAULT_OFFER } from './keys.ts';
export { makeNexus, iscsiTransportId } from './nexus.ts';
