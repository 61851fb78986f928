/**
 * `Scheduler` for cartkit on BullMQ (Redis): an outbox relay that neither loses nor
 * doubles a task, and delivery by BullMQ's attempts, backoff, locks and stalled-job
 * recovery — for several application instances sharing one Redis.
 * @packageDocumentation
 */
export { BullmqScheduler, createBullmqScheduler, jobIdOf } from './bullmq-scheduler.js';
export {
  type BullmqSchedulerOptions,
  bullmqDefaults,
  redactRedisUrl,
} from './options.js';
export {
  createRedisChangeFeed,
  RedisChangeFeed,
  type RedisChangeFeedOptions,
} from './redis-change-feed.js';
