// A target thread: serves its share of the portal's targets (a Host whose iSCSI link does not
// listen) and takes the connections the listening thread hands over for them.
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, StartupError } from '../errors.ts';
import { Host } from '../host.ts';
import { HandlerRegistry } from '../registry.ts';
import { IscsiLink } from '../../links/iscsi/link.ts';
import type { FromThread, ThreadInit, ToThread } from './messages.ts';
import type { ServeConfig } from '../config.ts';

const port = parentPort!;
const init = workerData as ThreadInit;
const post = (m: FromThread): void => port.postMessage(m);

async function run(): Promise<void> {
  let host: Host;
  try {
    const registry = await HandlerRegistry.open(init.handlers);
    host = await Host.start(init.cfg, registry, (level, message) => (level !== 'debug' || init.verbose) && post({ type: 'log', level, message }), {
      control: false,
      iscsi: { base: '' }, // LUN URLs are /iqn/lun: the listening thread puts its address in front
      onServed: (lun) => post({ type: 'served', lun }),
    });
  } catch (e) {
    const known = e instanceof StartupError || e instanceof ConfigError;
    post({ type: 'failed', message: known ? (e as Error).message : `internal error: ${(e as Error)?.stack ?? String(e)}`, startup: known });
    port.close();
    return;
  }
  const link = host.link as IscsiLink;
  port.on('message', (m: ToThread) => {
    switch (m.type) {
      case 'connection':
        link.adopt(m.fd, Buffer.from(m.received.buffer, m.received.byteOffset, m.received.byteLength));
        return;
      case 'request': {
        const req = m.req;
        const answer = req.cmd === 'access' ? host.reloadAccess(req.cfg as ServeConfig) : host.handleControl(req); // status, media, resize
        answer.then(
          (result) => post({ type: 'reply', id: m.id, ok: true, result }),
          (e: unknown) => post({ type: 'reply', id: m.id, ok: false, error: (e as Error).message }),
        );
        return;
      }
      case 'close':
        host.close(m.timeoutMs).then(
          () => post({ type: 'closed' }),
          (e: unknown) => post({ type: 'closed', error: (e as Error).message }),
        ).finally(() => port.close());
        return;
    }
  });
  post({ type: 'ready', served: host.served });
}

void run();
