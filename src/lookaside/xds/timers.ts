export { REAL_TIMERS, type Timers } from '../../common/timers.js';
