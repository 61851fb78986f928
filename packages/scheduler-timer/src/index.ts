/**
 * Timer-based background scheduler for cartkit reservation tasks.
 * @packageDocumentation
 */
export {
  createTimerScheduler,
  TimerScheduler,
  type TimerSchedulerEvents,
  type TimerSchedulerOptions,
} from './timer-scheduler.js';
