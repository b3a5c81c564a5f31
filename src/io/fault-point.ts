// Fault injection for the kill -9 harness (npm run test:faults): with CSG_FAULT_POINT=NAME:N the
// process kills itself with SIGKILL the N-th time it reaches the point NAME, so the harness can stop a
// run at the exact moments where a crash could lose a checkpoint. Unset, a point is one comparison.
const [pointName, count] = (process.env.CSG_FAULT_POINT ?? '').split(':');
let remaining = Number(count ?? 1) || 1;

export function faultPoint(name: string): void {
  if (name === pointName && --remaining === 0) process.kill(process.pid, 'SIGKILL');
}
