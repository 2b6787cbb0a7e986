/** The dashboard page (filled in by the dashboard work; a plain pointer to the API until then). */
export function dashboardHtml(): string {
  return '<!doctype html><meta charset="utf-8"><title>anomaly admin</title><p>anomaly admin API: see <a href="/openapi.json">/openapi.json</a>.</p>\n';
}
