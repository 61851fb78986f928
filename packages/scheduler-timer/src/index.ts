/**
 * Timer-based background scheduler for cartkit reservation jobs.
 * @packageDocumentation
 */
export { type TimerSchedulerModuleOptions, timerSchedulerModule } from './module.js';
export {
  createTimerScheduler,
  TimerScheduler,
  type TimerSchedulerEvents,
  type TimerSchedulerOptions,
} from './timer-scheduler.js';
