// hello (apps/README.md): the smallest app, for latency comparisons.
import { text } from 'anomaly';

export default function hello() {
  return text('hello from js');
}
