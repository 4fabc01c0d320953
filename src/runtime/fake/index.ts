export { FakeRuntime, type FakeRuntimeOptions } from './fake-runtime.ts';
