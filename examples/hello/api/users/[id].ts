// A Web-standard handler in TypeScript with a dynamic segment and waitUntil.
import { waitUntil } from '@vercel/functions';

export function GET(request: Request): Response {
  const id = new URL(request.url).searchParams.get('id');
  waitUntil(new Promise<void>((resolve) => setTimeout(resolve, 50)));
  return Response.json({ id, at: new Date().toISOString() });
}
