// A private Unix socket for a resident host process (the CNI agent, the
// Docker plugin): a socket file left by a process that died is removed, a
// live one is not displaced, and the socket is made mode 0600 (only root,
// which runs the callers, may connect).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** Listens on `socket` with `server` (an http.Server is a net.Server too); `who` names the process in errors. */
export async function listenPrivate(server: net.Server, socket: string, who: string, dirMode: number): Promise<void> {
  fs.mkdirSync(path.dirname(socket), { recursive: true, mode: dirMode });
  if (fs.existsSync(socket)) {
    if (!fs.lstatSync(socket).isSocket()) throw new Error(`${socket} exists and is not a socket`);
    const alive = await new Promise<boolean>((resolve) => {
      const c = net.connect(socket, () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (alive) throw new Error(`another ${who} is listening on ${socket}`);
    fs.unlinkSync(socket);
  }
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => { server.off('error', reject); resolve(); });
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(socket, 0o600);
}
