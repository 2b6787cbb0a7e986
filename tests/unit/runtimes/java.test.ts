/** The Java engine against the shared contract suite, plus Java-specific checks. Skipped (loudly) without a JDK. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { GuestError, type AppInstance } from '../../../runtimes/contract.js';
import { javaHostStats, javaRuntime, type JavaStats } from '../../../runtimes/java/index.js';
import { startBridge } from '../../../runtimes/java/bridge.js';
import { findJdk, JdkMissing } from '../../../runtimes/java/jdk.js';
import { bodyText, guestRequest, header, loadContractApps, runContractSuite, SUITE_LIMITS } from './contract-suite.js';

let jdk: string | null = null;
try {
  jdk = findJdk().home;
} catch (err) {
  if (process.env.CI === 'true') throw err;
  process.stderr.write(`*** Java engine tests skipped: ${(err as Error).message} ***\n`);
}

if (jdk !== null) {
  runContractSuite('java', () => javaRuntime(), loadContractApps('java', '.java'));
}

describe('findJdk', () => {
  it('says what is missing and how to fix it when there is no JDK', () => {
    assert.throws(
      () => findJdk({ JAVA_HOME: '/nonexistent/jdk', PATH: '/nonexistent/bin' }),
      (e: unknown) => e instanceof JdkMissing && /JAVA_HOME points to \/nonexistent\/jdk/.test(e.message) && /no javac or java on the PATH/.test(e.message) && /default-jdk-headless/.test(e.message),
    );
  });

  it('a runtime load without a JDK is a load error with that message', async () => {
    const rt = javaRuntime({ env: { PATH: '/nonexistent/bin' } });
    await assert.rejects(rt.load({ file: '/virtual/App.java', code: 'class App {}' }, SUITE_LIMITS), (e: unknown) => e instanceof GuestError && e.kind === 'load' && /need a JDK/.test(e.message));
  });
});

if (jdk !== null) {
  describe('Java specifics', () => {
    const rt = javaRuntime();
    const live: AppInstance[] = [];
    const load = async (code: string, limits = SUITE_LIMITS): Promise<AppInstance> => {
      const app = await rt.load({ file: '/virtual/App.java', code }, limits);
      live.push(app);
      return app;
    };
    after(() => {
      for (const app of live) app.dispose();
    });
    const handlerApp = (body: string, imports = ''): string =>
      `import anomaly.*;\nimport java.util.*;\n${imports}\npublic class App implements Handler {\n  public Response handle(Request req) throws Exception {\n    ${body}\n  }\n}\n`;

    it('text outside the BMP and NUL cross the boundary intact, in both directions', async () => {
      const app = await load(handlerApp('return Response.text(req.header("x-t") + "|" + req.query("q") + "|" + req.text() + "|" + req.param("p")).header("x-back", req.header("x-t"));'));
      const weird = 'é😀\u0000z';
      const res = await app.handle(guestRequest({
        headers: new Map([['x-t', [weird]]]), query: new Map([['q', [weird]]]), params: { p: weird }, body: Buffer.from(weird),
      }));
      assert.equal(bodyText(res), [weird, weird, weird, weird].join('|'));
      assert.equal(header(res, 'x-back'), weird);
    });

    it('a compile error names the line; a second class file error too', async () => {
      await assert.rejects(load('import anomaly.*;\npublic class App implements Handler {\n  public Response handle(Request r) { return nope; }\n}\n'), (e: unknown) => e instanceof GuestError && e.kind === 'load' && e.line === 3 && /cannot find symbol/.test(e.message));
      await assert.rejects(load('public class Nothing {}\n'), (e: unknown) => e instanceof GuestError && e.kind === 'load' && /no public class implementing anomaly.Handler/.test(e.message));
    });

    it('an exception names its line in App.java; a constructor that throws is a load error', async () => {
      const app = await load(handlerApp('Object o = null;\n    return Response.text(o.toString());'));
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'exception' && e.line === 7 && /NullPointerException/.test(e.message));
      assert.equal(app.broken, false);
      await assert.rejects(
        load('import anomaly.*;\npublic class App implements Handler {\n  public App() { throw new RuntimeException("no start"); }\n  public Response handle(Request r) { return null; }\n}\n'),
        (e: unknown) => e instanceof GuestError && e.kind === 'load' && /no start/.test(e.message) && e.line === 3,
      );
    });

    it('calls go through native/jni (built here with the C compiler); without it, through java-bridge', async (t) => {
      const jni = (await startBridge(findJdk())).jni;
      if (typeof jni === 'string') {
        if (process.env.CI === 'true') assert.fail(`native/jni is not available in CI: ${jni}`);
        process.stderr.write(`*** native/jni not available (${jni}): Java calls take the slower java-bridge path ***\n`);
        t.skip(jni);
      }
    });

    it('Thread.sleep past the deadline: 504 near the deadline, the worker interrupted, the instance replaced', async () => {
      const app = await load(handlerApp('Thread.sleep(60_000);\n    return Response.text("late");'), { ...SUITE_LIMITS, deadlineMs: 300 });
      const started = Date.now();
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline');
      assert.ok(Date.now() - started < 1500, `answered after ${Date.now() - started} ms`);
      assert.equal(app.broken, true);
      assert.equal(app.stats.deadlines, 1);
    });

    it('a slow handler does not hold the event loop', async () => {
      const app = await load(handlerApp('Thread.sleep(300);\n    return Response.text("slow");'));
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const res = await app.handle(guestRequest());
      clearInterval(timer);
      assert.equal(bodyText(res), 'slow');
      assert.ok(ticks >= 10, `the event loop ran ${ticks} 10 ms timers during a 300 ms call`);
    });

    describe('inline calls (an app whose calls are all quick runs them on the Node thread)', () => {
      const code =
        'import anomaly.*;\npublic class App implements Handler {\n  static volatile long n;\n  public Response handle(Request req) throws Exception {\n' +
        '    if (req.path().equals("/spin")) { while (true) n++; }\n    if (req.path().equals("/sleep")) Thread.sleep(60_000);\n' +
        '    if (req.path().equals("/slow")) Thread.sleep(300);\n    return Response.text("quick");\n  }\n}\n';
      const warm = async (app: AppInstance): Promise<void> => {
        for (let i = 0; i < 100; i++) assert.equal(bodyText(await app.handle(guestRequest())), 'quick');
      };
      const inlineCalls = async (): Promise<number> => javaHostStats((await startBridge(findJdk())).host).inline;
      const canStop = async (): Promise<boolean> => javaHostStats((await startBridge(findJdk())).host).stopSupported;

      for (const [path, what] of [['/spin', 'a busy loop (Thread.stop)'], ['/sleep', 'Thread.sleep (interrupt)']] as const) {
        it(`${what} past the deadline is answered 504 and the event loop runs again`, async (t) => {
          const app = await load(code, { ...SUITE_LIMITS, deadlineMs: 300 });
          const before = await inlineCalls();
          await warm(app);
          if (!(await canStop())) {
            assert.equal(await inlineCalls(), before, 'no inline calls where Thread.stop is gone');
            t.skip('this JVM has no Thread.stop (Java 20+): calls stay on the worker');
            return;
          }
          assert.ok((await inlineCalls()) > before, 'the quick calls ran inline');
          let fired = false;
          setTimeout(() => (fired = true), 1);
          const started = Date.now();
          await assert.rejects(app.handle(guestRequest({ path })), (e: unknown) => e instanceof GuestError && e.kind === 'deadline');
          assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms`);
          assert.equal(app.broken, true);
          await new Promise((r) => setTimeout(r, 20));
          assert.equal(fired, true);
          const next = await load(code);
          assert.equal(bodyText(await next.handle(guestRequest())), 'quick', 'the JVM serves a fresh instance');
        });
      }

      it('a slow call sends the app back to its worker: the next slow call does not hold the event loop', async () => {
        const app = await load(code);
        await warm(app);
        assert.equal(bodyText(await app.handle(guestRequest({ path: '/slow' }))), 'quick');
        let ticks = 0;
        const timer = setInterval(() => ticks++, 10);
        const res = await app.handle(guestRequest({ path: '/slow' }));
        clearInterval(timer);
        assert.equal(bodyText(res), 'quick');
        assert.ok(ticks >= 10, `the event loop ran ${ticks} 10 ms timers during a 300 ms call`);
      });
    });

    it('router: 405 with allow, *rest, percent-decoded params, HEAD as GET, form bodies', async () => {
      const app = await load(`import anomaly.*;
public class App extends Router {
  public App() {
    get("/files/*path", r -> Response.text(r.param("path")));
    get("/u/:name", r -> Response.text(r.param("name")));
    post("/form", r -> Response.text(r.form().get("x").get(0) + "/" + r.form().get("x").size() + "/" + r.form().get("y").get(0)));
  }
}`);
      assert.equal(bodyText(await app.handle(guestRequest({ path: '/files/a/b%20c.txt' }))), 'a/b c.txt');
      assert.equal(bodyText(await app.handle(guestRequest({ path: '/u/j%C3%B6rg' }))), 'jörg');
      assert.equal(bodyText(await app.handle(guestRequest({ method: 'HEAD', path: '/u/x' }))), 'x');
      const wrong = await app.handle(guestRequest({ method: 'DELETE', path: '/u/x' }));
      assert.equal(wrong.status, 405);
      assert.equal(header(wrong, 'allow'), 'GET');
      assert.equal((await app.handle(guestRequest({ path: '/nope' }))).status, 404);
      assert.equal(bodyText(await app.handle(guestRequest({ method: 'POST', path: '/form', body: Buffer.from('x=1+2&x=3&y=%C3%A9') }))), '1 2/2/é');
    });

    it('json: round trip (escapes, unicode, nesting, numbers, null, empty containers); invalid JSON is Json.Error', async () => {
      const app = await load(handlerApp('try { return Response.json(Json.parse(req.text())); } catch (Json.Error e) { return Response.text(e.getMessage(), 400); }'));
      const value = { s: 'é\u0001"\\\n😀\u2028', n: [1, -2.5, 1e21, 0, 9007199254740993], t: true, f: false, z: null, e: [], o: {} };
      const res = await app.handle(guestRequest({ body: Buffer.from(JSON.stringify(value).replace('😀', '\\ud83d\\ude00')) }));
      assert.deepEqual(JSON.parse(bodyText(res)), value);
      const bad = await app.handle(guestRequest({ body: Buffer.from('{"a": tru}') }));
      assert.equal(bad.status, 400);
      assert.match(bodyText(bad), /invalid JSON at offset 6/);
    });

    it('each instance has its own static state; instances of one source share one compile', async () => {
      const code = handlerApp('return Response.text(String.valueOf(++n));').replace('public class App implements Handler {', 'public class App implements Handler {\n  static int n;');
      const a = await load(code);
      const compiles = javaHostStats((await startBridge(findJdk())).host).compiles;
      const b = await load(code);
      await a.handle(guestRequest());
      assert.equal(bodyText(await a.handle(guestRequest())), '2');
      assert.equal(bodyText(await b.handle(guestRequest())), '1');
      assert.equal(javaHostStats((await startBridge(findJdk())).host).compiles, compiles, 'the second instance reused the compile');
    });

    it('deep recursion is a StackOverflowError: a 500-kind exception, the instance keeps serving', async () => {
      const app = await load(handlerApp('if (req.path().equals("/deep")) return Response.text(String.valueOf(depth(0)));\n    return Response.text("ok");').replace('public class App implements Handler {', 'public class App implements Handler {\n  static int depth(int n) { return depth(n + 1) + 1; }'));
      await assert.rejects(app.handle(guestRequest({ path: '/deep' })), (e: unknown) => e instanceof GuestError && e.kind === 'exception' && /stack overflow/.test(e.message));
      assert.equal(app.broken, false);
      assert.equal(bodyText(await app.handle(guestRequest())), 'ok');
    });

    it('AsyncHandler: a stage completed exceptionally is an exception; one that never completes meets the deadline', async () => {
      const code = `import anomaly.*;
import java.util.concurrent.*;
public class App implements AsyncHandler {
  public CompletionStage<Response> handle(Request req) {
    if (req.path().equals("/fail")) return CompletableFuture.failedFuture(new IllegalArgumentException("async boom"));
    if (req.path().equals("/never")) return new CompletableFuture<>();
    return CompletableFuture.supplyAsync(() -> Response.text("later"));
  }
}`;
      const app = await load(code, { ...SUITE_LIMITS, deadlineMs: 300 });
      assert.equal(bodyText(await app.handle(guestRequest())), 'later');
      await assert.rejects(app.handle(guestRequest({ path: '/fail' })), (e: unknown) => e instanceof GuestError && e.kind === 'exception' && /async boom/.test(e.message));
      assert.equal(app.broken, false);
      await assert.rejects(app.handle(guestRequest({ path: '/never' })), (e: unknown) => e instanceof GuestError && e.kind === 'deadline');
      assert.equal(app.broken, true);
    });

    it('repeated headers and query names keep every value in order; Response keeps repeated headers', async () => {
      const app = await load(handlerApp('Response res = Response.text(String.join(",", req.headerValues("X-M")) + "|" + String.join(",", req.query().get("q")));\n    for (String v : req.headerValues("x-m")) res.header("set-cookie", v);\n    return res;'));
      const res = await app.handle(guestRequest({ headers: new Map([['x-m', ['a', 'b', 'c']]]), query: new Map([['q', ['1', '2']]]) }));
      assert.equal(bodyText(res), 'a,b,c|1,2');
      assert.deepEqual(res.headers.filter(([k]) => k === 'set-cookie').map(([, v]) => v), ['a', 'b', 'c']);
    });

    it('invalid answers: null response, bad status', async () => {
      const nul = await load(handlerApp('return null;'));
      await assert.rejects(nul.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'response');
      const bad = await load(handlerApp('return new Response(99);'));
      await assert.rejects(bad.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'response' && /invalid status 99/.test(e.message));
    });
  });
}

// Last in the file: the thread it leaves behind keeps a CPU busy until the process exits.
if (jdk !== null) {
  describe('Java: a handler that swallows ThreadDeath', () => {
    it('is answered at the deadline; its worker is abandoned, counted and named in later deadline messages', async () => {
      const rt = javaRuntime();
      const code = 'import anomaly.*;\npublic class App implements Handler {\n  static volatile long n;\n  public Response handle(Request r) {\n    for (;;) { try { while (true) n++; } catch (Throwable t) { } }\n  }\n}\n';
      const limits = { ...SUITE_LIMITS, deadlineMs: 200 };
      const app = await rt.load({ file: '/virtual/App.java', code }, limits);
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline');
      app.dispose();
      await new Promise((r) => setTimeout(r, 1700)); // past ABANDON_AFTER_MS and the adapter's check
      assert.equal((app.stats as JavaStats).abandonedThreads, 1);
      const again = await rt.load({ file: '/virtual/App.java', code: code.replace('catch (Throwable t)', 'catch (RuntimeException t)') }, limits);
      await assert.rejects(again.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline' && /earlier worker thread\(s\) ignored interrupt/.test(e.message));
      again.dispose();
    });
  });
}
