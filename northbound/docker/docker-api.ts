// A very small client of dockerd's own API (GET only), for the one fact
// Docker does not hand a network driver: the network's name. CreateNetwork
// carries the network's id, subnet and options but not its name, and while
// it runs the network is not yet in dockerd's store; it is right after.
import http from 'node:http';

/** A network as `GET /networks` describes it (the fields the driver reads). */
export interface DockerNetwork {
  Name: string;
  Id: string;
  Driver: string;
  IPAM?: { Driver?: string; Config?: { Subnet?: string; Gateway?: string }[] | null };
  Options?: Record<string, string> | null;
}

export class DockerApi {
  private readonly target: { socketPath: string } | { host: string; port: number };

  /** `url`: unix:///var/run/docker.sock or tcp://HOST:PORT (plain HTTP). */
  constructor(readonly url: string, private readonly timeoutMs = 5000) {
    if (url.startsWith('unix://')) this.target = { socketPath: url.slice('unix://'.length) };
    else {
      const m = /^tcp:\/\/([^:/]+):(\d+)$/.exec(url);
      if (!m) throw new Error(`--docker: "${url}" is not unix:///PATH or tcp://HOST:PORT`);
      this.target = { host: m[1]!, port: Number(m[2]) };
    }
  }

  private get<T>(path: string): Promise<{ status: number; body: T | undefined }> {
    return new Promise((resolve, reject) => {
      const req = http.get({ ...this.target, path, timeout: this.timeoutMs, headers: { host: 'docker' } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => { size += d.length; if (size > 16 * 1024 * 1024) req.destroy(new Error('answer too large')); else chunks.push(d); });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: T | undefined;
          try { body = text ? JSON.parse(text) as T : undefined; } catch { body = undefined; }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`dockerd at ${this.url} did not answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
    });
  }

  /** One network by id, or null while dockerd does not know it (404). */
  async network(id: string): Promise<DockerNetwork | null> {
    const r = await this.get<DockerNetwork>(`/networks/${encodeURIComponent(id)}`);
    if (r.status === 404) return null;
    if (r.status !== 200 || !r.body || typeof r.body.Name !== 'string') throw new Error(`dockerd answered GET /networks/${id.slice(0, 12)} with ${r.status}`);
    return r.body;
  }

  /** The networks of one driver. */
  async networks(driver: string): Promise<DockerNetwork[]> {
    const q = encodeURIComponent(JSON.stringify({ driver: [driver] }));
    const r = await this.get<DockerNetwork[]>(`/networks?filters=${q}`);
    if (r.status !== 200 || !Array.isArray(r.body)) throw new Error(`dockerd answered GET /networks with ${r.status}`);
    return r.body.filter((n) => n && n.Driver === driver && typeof n.Name === 'string');
  }
}
