import { createServer as createHttpServer } from "node:http";
import { connect, type Socket } from "node:net";
import type { TestContext } from "node:test";

/** A CONNECT proxy on 127.0.0.1:0 that records the targets it tunnels to; closed after the test. */
export async function startProxy(t: TestContext): Promise<{ url: string; targets: string[] }> {
  const targets: string[] = [];
  const sockets: Socket[] = [];
  const proxy = createHttpServer((_req, res) => {
    res.writeHead(501);
    res.end();
  });
  proxy.on("connect", (req, client: Socket, head: Buffer) => {
    targets.push(req.url ?? "");
    const [host, port] = (req.url ?? "").split(":");
    const upstream = connect(Number(port), host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.push(client, upstream);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    proxy.close();
  });
  return { url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`, targets };
}
