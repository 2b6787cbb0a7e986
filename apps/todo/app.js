// todo (apps/README.md): a small REST API over an in-memory list, with the binding's router.
import { App, Response, json } from 'anomaly';

const items = [];
let nextId = 1;

const notFound = () => json({ error: 'not found' }, 404);
const badRequest = (message) => json({ error: message }, 400);

function find(req) {
  const id = Number(req.params.id);
  return items.find((item) => item.id === id);
}

function body(req) {
  try {
    const value = req.json();
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

const app = new App();

app.get('/todos', () => json(items));

app.post('/todos', (req) => {
  const input = body(req);
  if (input === null) return badRequest('body must be a JSON object');
  if (typeof input.title !== 'string' || input.title === '') return badRequest('title must be a non-empty string');
  if (input.done !== undefined && typeof input.done !== 'boolean') return badRequest('done must be a boolean');
  const item = { id: nextId++, title: input.title, done: input.done ?? false };
  items.push(item);
  return json(item, 201).set('location', `/todos/${item.id}`);
});

app.get('/todos/:id', (req) => {
  const item = find(req);
  return item === undefined ? notFound() : json(item);
});

app.patch('/todos/:id', (req) => {
  const item = find(req);
  if (item === undefined) return notFound();
  const input = body(req);
  if (input === null) return badRequest('body must be a JSON object');
  if (input.title !== undefined && (typeof input.title !== 'string' || input.title === '')) return badRequest('title must be a non-empty string');
  if (input.done !== undefined && typeof input.done !== 'boolean') return badRequest('done must be a boolean');
  if (input.title !== undefined) item.title = input.title;
  if (input.done !== undefined) item.done = input.done;
  return json(item);
});

app.delete('/todos/:id', (req) => {
  const index = items.findIndex((item) => item.id === Number(req.params.id));
  if (index === -1) return notFound();
  items.splice(index, 1);
  return new Response(null, { status: 204 });
});

export default app;
