/** What services import: a TaskControl controller helper (taskcontrol/). */
export {
  parseTaskControlRequest,
  serveTaskControl,
  type ControllerServer,
  type Decide,
  type ServeOptions,
} from './taskcontrol/controller.ts';
export { shardGuard, type ShardGuardOptions } from './taskcontrol/shard-guard.ts';
