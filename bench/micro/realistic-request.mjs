// The "realistic request" the engine micro-benches share (the issues' measurements use it too):
// 12 headers, 3 query keys, 2 cookies and a 1 KiB body, as a GuestRequest (runtimes/contract.ts).
export function realisticRequest() {
  const headers = new Map([
    ['host', ['example.com']], ['user-agent', ['bench/1.0 (like curl)']], ['accept', ['application/json']],
    ['accept-encoding', ['gzip, br']], ['accept-language', ['en-GB,en;q=0.9']], ['content-type', ['application/json']],
    ['content-length', ['1024']], ['cookie', ['sid=abc123; theme=dark']], ['x-request-id', ['0f8fad5b-d9cb-469f-a165-70867728950e']],
    ['x-forwarded-for', ['10.0.0.1']], ['cache-control', ['no-cache']], ['connection', ['keep-alive']],
  ]);
  return {
    method: 'POST', path: '/api/items/42', rawQuery: 'page=2&sort=name&tag=a',
    query: new Map([['page', ['2']], ['sort', ['name']], ['tag', ['a']]]),
    headers, cookies: new Map([['sid', 'abc123'], ['theme', 'dark']]), params: {}, protocol: 'h1', scheme: 'https',
    host: 'example.com', remoteAddress: '127.0.0.1', body: new Uint8Array(1024).fill(97),
  };
}
