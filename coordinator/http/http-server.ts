// The coordinator's HTTP side: liveness and readiness for Kubernetes (REST, dashboard and /metrics
// attach here as they are built).
import http from "node:http";

export interface HttpRoutes {
  ready: () => Promise<boolean>;
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export async function startHttpServer(host: string, port: number, routes: HttpRoutes): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      routes.ready().then(
        (ok) => res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready\n" : "not ready\n"),
        () => res.writeHead(503, { "content-type": "text/plain" }).end("not ready\n"),
      );
    } else if (path === "/metrics" && routes.metrics) {
      routes.metrics().then((m) => res.writeHead(200, { "content-type": m.contentType }).end(m.body), (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${e.message}\n`));
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
