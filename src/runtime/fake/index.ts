export { FakeHost, FakeRuntime, type FakeRuntimeOptions } from './fake-runtime.ts';
