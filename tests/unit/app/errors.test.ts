import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { appModule, type AppHandler } from '../../../src/handlers/app/index.js';
import { bodyText, FakeRuntime, recordingLogger, request, tempDir, type LogLine } from './fake-runtime.js';

describe('app error mapping', () => {
  const tmp = tempDir();
  const runtime = new FakeRuntime();
  after(() => tmp.rm());

  async function mount(program: string, lines: LogLine[], extra: Record<string, unknown> = {}): Promise<AppHandler> {
    tmp.write('e.fake', program);
    const cfg = { file: 'e.fake', reload: false, instances: 1, ...extra };
    return (await appModule([runtime]).create(cfg, tmp.ctx(recordingLogger(lines)))) as AppHandler;
  }

  const cases: Array<[program: string, status: number, kind: string]> = [
    ['throw', 500, 'exception'],
    ['deadline', 504, 'deadline'],
    ['memory', 503, 'memory'],
    ['huge', 500, 'response'],
    ['badheader', 500, 'response'],
  ];
  for (const [program, status, kind] of cases) {
    it(`${program} -> ${status}, one log line, a short body`, async () => {
      const lines: LogLine[] = [];
      const app = await mount(program, lines, { max_response: '1kb' });
      const res = await app.handle(request('/api/x', { route: '/api/*' }));
      assert.equal(res.status, status);
      const text = await bodyText(res);
      assert.match(text, /^\d{3} app [a-z ]+\n$/);
      assert.doesNotMatch(text, /boom|at handler/);
      const errors = lines.filter((l) => l.level === 'error');
      assert.equal(errors.length, 1);
      const [line] = errors;
      assert.equal(line.obj.kind, kind);
      assert.equal(line.obj.path, '/api/x');
      assert.ok(String(line.obj.app).endsWith('e.fake'));
      assert.ok(line.msg.includes('e.fake'), line.msg);
      assert.ok(line.msg.includes('/api/x'), line.msg);
      assert.ok(!line.msg.includes('\n'), 'one line');
      assert.equal(app.status().stats.errors[kind as 'exception'], 1);
      await app.dispose();
    });
  }

  it('the log line carries file:line and the message', async () => {
    const lines: LogLine[] = [];
    const app = await mount('throw', lines);
    await app.handle(request('/x'));
    const [line] = lines.filter((l) => l.level === 'error');
    assert.equal(line.obj.line, 2);
    assert.match(line.msg, /e\.fake:2: boom \(GET \/x\)$/);
    await app.dispose();
  });

  it('an instance that never answers: 504 after deadline + grace, and it is replaced', async () => {
    const lines: LogLine[] = [];
    const app = await mount('hang', lines, { deadline: 50 });
    const started = Date.now();
    const res = await app.handle(request('/'));
    assert.equal(res.status, 504);
    assert.ok(Date.now() - started < 3000);
    assert.equal(app.status().stats.replaced, 1);
    await app.dispose();
  });

  it('the app keeps serving after errors', async () => {
    const app = await mount('throw', []);
    for (let i = 0; i < 5; i++) assert.equal((await app.handle(request('/'))).status, 500);
    assert.equal(app.status().pool.size, 1);
    await app.dispose();
  });
});
