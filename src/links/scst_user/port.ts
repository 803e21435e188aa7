// The seam between the scst_user link and the kernel: an open /dev/scst_user reduced to the
// calls the link makes. Production: ScstUserFd (src/ffi), a real non-blocking fd. Unit tests: an
// in-process model of the kernel side (test/helpers/scst-user-model.ts) that reads and writes
// the same native memory the kernel would, so the link code under test is the real one.
import { ScstUserFd } from '../../ffi/scst-user-fd.ts';
import { SCST_USER_DEVICE } from '../../ffi/scst-user-abi.ts';

export interface ScstUserPort {
  /** ioctl(fd, request, arg) with a native address: the non-negative result, or -errno. */
  ioctl(request: number, arg: bigint): number;
  /** Calls cb on the event loop while the fd is readable (level-triggered); status < 0: the fd failed. */
  watch(cb: (status: number) => void): void;
  unwatch(): void;
  /** Closing unregisters the device; the kernel fails what it still holds and drops its LUN mappings. */
  close(): void;
  /** The kernel's recent log lines, newest last (why REGISTER_DEVICE was refused); default: /dev/kmsg. */
  kernelLog?(): readonly string[];
}

/** Opens a fresh fd (one per device registration). */
export type OpenPort = () => ScstUserPort;

export const openScstUser = (path: string = SCST_USER_DEVICE): OpenPort => () => ScstUserFd.open(path);
