// echo (apps/README.md): answers the request as the app sees it, already parsed by the host.
import { json } from 'anomaly';

export default function echo(req) {
  return json({
    language: 'js',
    method: req.method,
    path: req.path,
    query: req.query.toJSON(),
    headers: req.headers.toJSON(),
    cookies: req.cookies,
    bodyLength: req.body.length,
    bodyText: req.text(),
  });
}
