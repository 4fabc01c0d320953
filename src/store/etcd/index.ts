export { EtcdStore, type EtcdStoreOptions } from './etcd-store.ts';
