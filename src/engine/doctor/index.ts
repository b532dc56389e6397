/** `brankas doctor`: finds (plan.ts) and repairs (fix.ts) what crashes and hand edits left. */
export {
  planDoctor,
  type DoctorFinding,
  type DoctorOptions,
  type DoctorPlan,
  type LeftOff,
} from './plan.js';
export { fixFindings, type DoctorFixResult } from './fix.js';
