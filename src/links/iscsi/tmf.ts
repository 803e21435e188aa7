// Task management (RFC 7143 §11.5-11.6, SAM-5 §7): the link aborts its own tasks (no SCSI
// Response for them; their AbortSignal fires), waits for those at the port to settle, then asks
// the ScsiTargetPort for the LU-side effects and answers with a TMF Response.

import type { ScsiTargetPort, TaskManagementFunction, TaskManagementOutcome } from '../../scsi/command.ts';
import { TmfFunction, TmfResponse } from './constants.ts';
import { withTimeout, type IscsiConnection } from './connection.ts';
import { encodeTmfResponse } from './pdu-out.ts';
import type { TmfRequestPdu } from './pdu.ts';
import type { IscsiSession, Task } from './session.ts';

const OUTCOME: Record<TaskManagementOutcome, number> = {
  complete: TmfResponse.Complete,
  'no-such-lun': TmfResponse.LunDoesNotExist,
  'not-supported': TmfResponse.NotSupported,
  rejected: TmfResponse.Rejected,
};

export function onTaskManagement(conn: IscsiConnection, pdu: TmfRequestPdu): void {
  const s = conn.session!;
  if (!s.inWindow(pdu.cmdSN, pdu.immediate)) {
    conn.log('debug', `TMF CmdSN ${pdu.cmdSN} outside window, ignored`);
    return;
  }
  conn.ctx.counters.tmfs++;
  s.submit(pdu.cmdSN, pdu.immediate, () => {
    run(conn, s, pdu).then(
      (response) => {
        if (conn.closed) return;
        conn.send(encodeTmfResponse({ ...conn.seq(true), itt: pdu.itt, response }));
        if (pdu.func === TmfFunction.TargetColdReset && response === TmfResponse.Complete) {
          // Cold reset: after the response, every connection to this target goes.
          setImmediate(() => {
            for (const other of conn.ctx.sessionsOf(s.target!)) {
              if (other !== s && sharesUnits(s, other)) void conn.ctx.terminateSession(other, 'target cold reset');
            }
            conn.end();
          });
        }
      },
      (e: unknown) => {
        conn.log('error', `task management function ${pdu.func} failed: ${(e as Error).message}`);
        if (!conn.closed) conn.send(encodeTmfResponse({ ...conn.seq(true), itt: pdu.itt, response: TmfResponse.Rejected }));
      },
    );
  });
}

async function run(conn: IscsiConnection, s: IscsiSession, pdu: TmfRequestPdu): Promise<number> {
  const port = s.port!;
  const nexus = s.nexus!;
  const lun = pdu.lun;
  const wait = (waits: Promise<void>[]) => withTimeout(Promise.all(waits), conn.ctx.options.taskWaitTimeout);
  const lunScoped = (fn: number) =>
    fn === TmfFunction.AbortTask ||
    fn === TmfFunction.AbortTaskSet ||
    fn === TmfFunction.ClearAca ||
    fn === TmfFunction.ClearTaskSet ||
    fn === TmfFunction.LogicalUnitReset;
  if (lunScoped(pdu.func) && (lun < 0 || !port.hasLun(lun))) return TmfResponse.LunDoesNotExist;

  const allSessions = () => conn.ctx.sessionsOf(s.target!);
  // Sessions may see the target through different ACL views: a task is "on our LU" when its
  // session's LUN reaches the same unit, and a target reset concerns only the units we see.
  const abortIn = (sessions: IscsiSession[], pick: (t: Task, x: IscsiSession) => boolean, why: string) => {
    const waits: Promise<void>[] = [];
    for (const x of sessions) waits.push(...x.abortTasks(x.tasksOn().filter((t) => pick(t, x)), why));
    return waits;
  };
  const onLun = (t: Task, x: IscsiSession): boolean => (x.port === port ? t.lun === lun : sameUnit(port, lun, x, t.lun));
  const ours = (t: Task, x: IscsiSession): boolean => x.port === port || ownsUnitOf(port, x, t.lun);
  const lu = async (fn: TaskManagementFunction, l: number): Promise<number> => OUTCOME[await port.taskManagement(fn, nexus, l)];

  switch (pdu.func) {
    case TmfFunction.AbortTask: {
      const t = s.tasks.get(pdu.refTaskTag);
      if (t) {
        conn.log('debug', `ABORT TASK ITT 0x${t.itt.toString(16)}`);
        await wait(s.abortTasks([t], 'ABORT TASK'));
        return TmfResponse.Complete;
      }
      // §11.6.1: an unknown task whose RefCmdSN is in the window and below the TMF's own CmdSN
      // is considered received (and complete); otherwise it does not exist.
      if (s.cmdSNInWindow(pdu.refCmdSN) && refBefore(pdu.refCmdSN, pdu.cmdSN)) {
        s.skip(pdu.refCmdSN);
        return TmfResponse.Complete;
      }
      return TmfResponse.TaskDoesNotExist;
    }
    case TmfFunction.AbortTaskSet:
      await wait(abortIn([s], onLun, 'ABORT TASK SET'));
      return lu('abort-task-set', lun);
    case TmfFunction.ClearTaskSet:
      await wait(abortIn(allSessions(), onLun, 'CLEAR TASK SET'));
      return lu('clear-task-set', lun);
    case TmfFunction.ClearAca:
      return lu('clear-aca', lun);
    case TmfFunction.LogicalUnitReset:
      conn.log('info', `LOGICAL UNIT RESET LUN ${lun}`);
      await wait(abortIn(allSessions(), onLun, 'LOGICAL UNIT RESET'));
      return lu('lun-reset', lun);
    case TmfFunction.TargetWarmReset:
      conn.log('info', 'TARGET WARM RESET');
      await wait(abortIn(allSessions(), ours, 'TARGET WARM RESET'));
      return lu('target-warm-reset', 0);
    case TmfFunction.TargetColdReset:
      conn.log('info', 'TARGET COLD RESET');
      await wait(abortIn(allSessions(), ours, 'TARGET COLD RESET'));
      return lu('target-cold-reset', 0);
    case TmfFunction.TaskReassign:
      // Only meaningful at ErrorRecoveryLevel 2.
      return TmfResponse.ReassignNotSupported;
    default:
      return TmfResponse.NotSupported;
  }
}

/** Whether session x's LUN xLun reaches the unit at `lun` of `port` (views without units(): same number). */
function sameUnit(port: ScsiTargetPort, lun: number, x: IscsiSession, xLun: number): boolean {
  if (!port.unitAt || !x.port?.unitAt) return xLun === lun;
  const u = port.unitAt(lun);
  return u !== undefined && x.port.unitAt(xLun) === u;
}

/** Whether session x's LUN xLun reaches a unit `port` also shows. */
function ownsUnitOf(port: ScsiTargetPort, x: IscsiSession, xLun: number): boolean {
  if (!port.units || !x.port?.unitAt) return true;
  const u = x.port.unitAt(xLun);
  return u !== undefined && [...port.units()].includes(u);
}

/** Whether two sessions of a target see a unit in common. */
function sharesUnits(a: IscsiSession, b: IscsiSession): boolean {
  if (a.port === b.port || !a.port?.units || !b.port?.units) return true;
  const mine = new Set(a.port.units());
  return [...b.port.units()].some((u) => mine.has(u));
}

function refBefore(ref: number, cmdSN: number): boolean {
  return ref !== cmdSN && ((cmdSN - ref) >>> 0) < 0x80000000;
}
