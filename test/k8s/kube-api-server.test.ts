// The suite's own API server speaks the protocol the way the real one does:
// checked here with raw HTTP, so the PodWatcher tests can trust it.
import assert from 'node:assert/strict';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';

interface WatchEvent {
  type: string;
  object: { kind?: string; code?: number; metadata?: { name?: string; resourceVersion?: string } };
}

/** An open watch stream whose events are read one by one. */
class WatchStream {
  private buffered = '';
  private readonly decoder = new TextDecoder();

  constructor(
    readonly response: Response,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
  ) {}

  async next(): Promise<WatchEvent | undefined> {
    for (;;) {
      const newline = this.buffered.indexOf('\n');
      if (newline >= 0) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        return JSON.parse(line) as WatchEvent;
      }
      const { value, done } = await this.reader.read();
      if (done) return undefined;
      this.buffered += this.decoder.decode(value, { stream: true });
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }
}

describe('KubeApiServer (the test suite’s own)', function () {
  let api: KubeApiServer;
  const streams: WatchStream[] = [];

  beforeEach(async function () {
    api = await KubeApiServer.start();
  });

  afterEach(async function () {
    for (const s of streams.splice(0)) await s.cancel();
    await api.stop();
  });

  /** token null: no Authorization header at all. */
  function get(path: string, token: string | null = api.token): Promise<Response> {
    const headers: Record<string, string> = token !== null ? { Authorization: `Bearer ${token}` } : {};
    return fetch(`${api.url}${path}`, { headers });
  }

  async function watch(path: string): Promise<WatchStream> {
    const res = await get(path);
    assert.equal(res.status, 200);
    assert.ok(res.body !== null);
    const stream = new WatchStream(res, res.body.getReader());
    streams.push(stream);
    return stream;
  }

  it('lists pods with a resourceVersion, filtered by field selector and namespace', async function () {
    api.addPod(makePod({ name: 'a', nodeName: 'n1' }));
    api.addPod(makePod({ name: 'b', nodeName: 'n2', namespace: 'kube-system' }));
    api.addPod(makePod({ name: 'c', nodeName: 'n2' }));

    const all = (await (await get('/api/v1/pods')).json()) as { kind: string; metadata: { resourceVersion: string }; items: unknown[] };
    assert.equal(all.kind, 'PodList');
    assert.equal(all.metadata.resourceVersion, api.resourceVersion);
    assert.equal(all.items.length, 3);

    const onN2 = (await (await get('/api/v1/pods?fieldSelector=spec.nodeName%3Dn2')).json()) as { items: unknown[] };
    assert.equal(onN2.items.length, 2);
    const inNs = (await (await get('/api/v1/namespaces/kube-system/pods?fieldSelector=spec.nodeName%3Dn2')).json()) as {
      items: unknown[];
    };
    assert.equal(inNs.items.length, 1);
    const notN2 = (await (await get('/api/v1/pods?fieldSelector=spec.nodeName!%3Dn2')).json()) as { items: unknown[] };
    assert.equal(notN2.items.length, 1);

    assert.equal(api.listRequests().length, 4);
    assert.equal(api.listRequests()[1]?.fieldSelector, 'spec.nodeName=n2');
  });

  it('refuses requests without the token and unknown field selectors', async function () {
    assert.equal((await get('/api/v1/pods', null)).status, 401);
    assert.equal((await get('/api/v1/pods', 'wrong')).status, 401);
    assert.equal((await get('/api/v1/pods?fieldSelector=spec.color%3Dblue')).status, 400);
    assert.equal((await get('/api/v1/services')).status, 404);
  });

  it('streams changes after the watched resourceVersion, selector transitions included', async function () {
    api.addPod(makePod({ name: 'old', nodeName: 'n1' }));
    const from = api.resourceVersion;
    api.addPod(makePod({ name: 'replayed', nodeName: 'n1' }));
    const w = await watch(`/api/v1/pods?watch=true&resourceVersion=${from}&fieldSelector=spec.nodeName%3Dn1`);

    const replayed = await w.next();
    assert.equal(replayed?.type, 'ADDED');
    assert.equal(replayed?.object.metadata?.name, 'replayed');

    const unscheduled = api.addPod(makePod({ name: 'moves' })); // not selected: no nodeName yet
    api.updatePod({ ...unscheduled, spec: { ...unscheduled.spec, containers: unscheduled.spec?.containers ?? [], nodeName: 'n1' } });
    const bound = await w.next();
    assert.equal(bound?.type, 'ADDED', 'a pod that starts to match arrives as ADDED');
    assert.equal(bound?.object.metadata?.name, 'moves');

    api.deletePod('default', 'old');
    const deleted = await w.next();
    assert.equal(deleted?.type, 'DELETED');
    assert.equal(deleted?.object.metadata?.resourceVersion, api.resourceVersion);
  });

  it('sends BOOKMARK events only to watches that allow them', async function () {
    const plain = await watch(`/api/v1/pods?watch=true&resourceVersion=${api.resourceVersion}`);
    const withBookmarks = await watch(`/api/v1/pods?watch=true&resourceVersion=${api.resourceVersion}&allowWatchBookmarks=true`);
    api.sendBookmarks();
    api.addPod(makePod({ name: 'x', nodeName: 'n1' }));
    const first = await withBookmarks.next();
    assert.equal(first?.type, 'BOOKMARK');
    assert.equal(first?.object.metadata?.resourceVersion, String(Number(api.resourceVersion) - 1));
    assert.equal((await plain.next())?.type, 'ADDED');
    assert.equal(api.watchRequests()[1]?.allowWatchBookmarks, true);
  });

  it('answers an expired resourceVersion with 410 Gone, as an event or as HTTP', async function () {
    const rv = api.resourceVersion;
    const open = await watch(`/api/v1/pods?watch=true&resourceVersion=${rv}`);
    api.expireResourceVersions();
    const gone = await open.next();
    assert.equal(gone?.type, 'ERROR');
    assert.equal(gone?.object.kind, 'Status');
    assert.equal(gone?.object.code, 410);
    assert.equal(await open.next(), undefined, 'the stream ends after the 410');

    const late = await watch(`/api/v1/pods?watch=true&resourceVersion=${rv}`);
    assert.equal((await late.next())?.object.code, 410);

    api.expireResourceVersions({ newWatches: 'http-410' });
    const refused = await get(`/api/v1/pods?watch=true&resourceVersion=${rv}`);
    assert.equal(refused.status, 410);
    assert.equal(((await refused.json()) as { reason: string }).reason, 'Expired');
  });

  it('goes down and comes back on the same port with its pods', async function () {
    api.addPod(makePod({ name: 'kept', nodeName: 'n1' }));
    const port = api.port;
    await api.stop();
    await assert.rejects(get('/api/v1/pods'));
    api.addPod(makePod({ name: 'added-while-down', nodeName: 'n1' }));
    await api.restart();
    assert.equal(api.port, port);
    const list = (await (await get('/api/v1/pods')).json()) as { items: unknown[] };
    assert.equal(list.items.length, 2);
  });
});
