// Connections that never finish a login, for the memory tests: a third send a garbage BHS, a third
// half a login PDU, a third nothing; each is closed at once. Resolves when all are closed.
import net from 'node:net';

export function floodConnections(port: number, n: number): Promise<void[]> {
  return Promise.all(
    Array.from(
      { length: n },
      (_, j) =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => {
            if (j % 3 === 0) s.write(Buffer.alloc(48, 0xff)); // garbage BHS
            else if (j % 3 === 1) s.write(Buffer.from([0x43, 0x87])); // half a login
            s.destroy();
          });
          s.on('close', () => resolve());
          s.on('error', () => undefined);
        }),
    ),
  );
}
